package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// matchFailurePolicy matches a failed pod against the Job's pod failure
// policy. It returns the Job failure message of a FailJob rule (nil
// otherwise), whether the failure counts towards backoffLimit (not for an
// Ignore rule), and the action matched (nil when no rule matched).
func matchFailurePolicy(policy *batchv1.PodFailurePolicy, p *corev1.Pod) (*string, bool, *batchv1.PodFailurePolicyAction) {
	if policy == nil {
		return nil, true, nil
	}
	for i, rule := range policy.Rules {
		action := rule.Action
		switch {
		case rule.OnExitCodes != nil:
			cs := matchExitCodes(&p.Status, rule.OnExitCodes)
			if cs == nil {
				continue
			}
			switch action {
			case batchv1.PodFailurePolicyActionIgnore:
				return nil, false, &action
			case batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex:
				return nil, true, &action
			case batchv1.PodFailurePolicyActionFailJob:
				msg := fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
					cs.Name, p.Namespace, p.Name, cs.State.Terminated.ExitCode, action, i)
				return &msg, true, &action
			}
		case rule.OnPodConditions != nil:
			cond := matchPodConditions(&p.Status, rule.OnPodConditions)
			if cond == nil {
				continue
			}
			switch action {
			case batchv1.PodFailurePolicyActionIgnore:
				return nil, false, &action
			case batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex:
				return nil, true, &action
			case batchv1.PodFailurePolicyActionFailJob:
				msg := fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
					p.Namespace, p.Name, cond.Type, action, i)
				return &msg, true, &action
			}
		}
	}
	return nil, true, nil
}

// matchExitCodes returns the first terminated container (then init
// container) whose non-zero exit code satisfies the requirement.
func matchExitCodes(s *corev1.PodStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{s.ContainerStatuses, s.InitContainerStatuses} {
		for i := range list {
			cs := &list[i]
			t := cs.State.Terminated
			if t == nil || t.ExitCode == 0 {
				continue
			}
			if req.ContainerName != nil && *req.ContainerName != cs.Name {
				continue
			}
			in := slices.Contains(req.Values, t.ExitCode)
			if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && in) ||
				(req.Operator == batchv1.PodFailurePolicyOnExitCodesOpNotIn && !in) {
				return cs
			}
		}
	}
	return nil
}

func matchPodConditions(s *corev1.PodStatus, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for i := range s.Conditions {
		for _, pat := range patterns {
			if s.Conditions[i].Type == pat.Type && s.Conditions[i].Status == pat.Status {
				return &s.Conditions[i]
			}
		}
	}
	return nil
}

// failJobMessage returns the message of the first failed pod matching a
// FailJob rule.
func failJobMessage(j *batchv1.Job, pods []*corev1.Pod) *string {
	if j.Spec.PodFailurePolicy == nil {
		return nil
	}
	for _, p := range pods {
		if isPodFailed(p, j) {
			if msg, _, _ := matchFailurePolicy(j.Spec.PodFailurePolicy, p); msg != nil {
				return msg
			}
		}
	}
	return nil
}

// matchSuccessPolicy reports whether the succeeded indexes of an Indexed
// Job meet a rule of its success policy, with the message of the
// SuccessCriteriaMet condition.
func matchSuccessPolicy(policy *batchv1.SuccessPolicy, completions int32, succeeded intervals) (string, bool) {
	if policy == nil || len(succeeded) == 0 {
		return "", false
	}
	for i, rule := range policy.Rules {
		met := false
		switch {
		case rule.SucceededIndexes != nil:
			required := parseIntervals(*rule.SucceededIndexes, int(completions))
			if len(required) == 0 {
				continue
			}
			got := overlap(required, succeeded)
			met = got == required.total() || (rule.SucceededCount != nil && got >= int(*rule.SucceededCount))
		case rule.SucceededCount != nil:
			met = succeeded.total() >= int(*rule.SucceededCount)
		}
		if met {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}

// overlap counts the indexes two interval lists share.
func overlap(a, b intervals) int {
	n, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		if o := min(a[i].last, b[j].last) - max(a[i].first, b[j].first) + 1; o > 0 {
			n += o
		}
		if b[j].last < a[i].last {
			j++
		} else {
			i++
		}
	}
	return n
}
