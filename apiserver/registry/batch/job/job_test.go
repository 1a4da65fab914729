package job

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	"berth/apiserver/registry/apps/appsrules/appstest"
)

const uid = types.UID("0a4f5c3e-1111-2222-3333-444455556666")

// created returns a Job as stored after creation: defaulted, with a uid and
// the generated selector.
func created() *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: uid},
		Spec:       batchv1.JobSpec{Template: appstest.PodTemplate(nil, corev1.RestartPolicyNever)},
	}
	Default(j)
	Resource().PrepareForCreate(context.Background(), j)
	return j
}

func TestDefault(t *testing.T) {
	j := &batchv1.Job{Spec: batchv1.JobSpec{Template: appstest.PodTemplate(map[string]string{"app": "pi"}, corev1.RestartPolicyNever)}}
	Default(j)
	s := j.Spec
	if ptr.Deref(s.Completions, 0) != 1 || ptr.Deref(s.Parallelism, 0) != 1 || ptr.Deref(s.BackoffLimit, 0) != 6 {
		t.Errorf("completions %v parallelism %v backoffLimit %v", s.Completions, s.Parallelism, s.BackoffLimit)
	}
	if ptr.Deref(s.CompletionMode, "") != batchv1.NonIndexedCompletion || ptr.Deref(s.Suspend, true) ||
		ptr.Deref(s.ManualSelector, true) || ptr.Deref(s.PodReplacementPolicy, "") != batchv1.TerminatingOrFailed {
		t.Errorf("spec %+v", s)
	}
	if j.Labels["app"] != "pi" {
		t.Errorf("job labels %v, want the template's", j.Labels)
	}
	j.Spec.Template.Labels["extra"] = "1"
	if _, ok := j.Labels["extra"]; ok {
		t.Error("job labels share the template's map")
	}

	// Parallel work queue: completions stay unset.
	queue := &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr.To[int32](3)}}
	Default(queue)
	if queue.Spec.Completions != nil || *queue.Spec.Parallelism != 3 {
		t.Errorf("work queue: completions %v parallelism %d", queue.Spec.Completions, *queue.Spec.Parallelism)
	}

	perIndex := &batchv1.Job{Spec: batchv1.JobSpec{
		BackoffLimitPerIndex: ptr.To[int32](1),
		PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
			Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
		}}},
	}}
	Default(perIndex)
	if *perIndex.Spec.BackoffLimit != math.MaxInt32 || *perIndex.Spec.PodReplacementPolicy != batchv1.Failed {
		t.Errorf("backoffLimit %d podReplacementPolicy %s", *perIndex.Spec.BackoffLimit, *perIndex.Spec.PodReplacementPolicy)
	}
	if perIndex.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != corev1.ConditionTrue {
		t.Error("pod condition pattern status not defaulted to True")
	}
	again := perIndex.DeepCopy()
	Default(again)
	if !equality.Semantic.DeepEqual(again, perIndex) {
		t.Error("Default is not idempotent")
	}
}

func TestGeneratedSelector(t *testing.T) {
	j := created()
	wantLabels := map[string]string{
		"controller-uid": string(uid), "batch.kubernetes.io/controller-uid": string(uid),
		"job-name": "pi", "batch.kubernetes.io/job-name": "pi",
	}
	if !equality.Semantic.DeepEqual(j.Spec.Template.Labels, wantLabels) {
		t.Errorf("template labels %v", j.Spec.Template.Labels)
	}
	if !equality.Semantic.DeepEqual(j.Spec.Selector, &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": string(uid)}}) {
		t.Errorf("selector %v", j.Spec.Selector)
	}
	if j.Generation != 1 {
		t.Errorf("generation %d", j.Generation)
	}
	appstest.NoErrors(t, Validate(j))

	// The job's own labels come from the template once defaults run again,
	// as when Kubernetes reads the job back.
	Default(j)
	if j.Labels["job-name"] != "pi" {
		t.Errorf("job labels %v", j.Labels)
	}

	// A manual selector is left alone and must match the template.
	manual := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "m", UID: uid},
		Spec: batchv1.JobSpec{
			ManualSelector: ptr.To(true),
			Selector:       appstest.Selector(map[string]string{"app": "m"}),
			Template:       appstest.PodTemplate(map[string]string{"app": "m"}, corev1.RestartPolicyOnFailure),
		},
	}
	Default(manual)
	Resource().PrepareForCreate(context.Background(), manual)
	if len(manual.Spec.Template.Labels) != 1 {
		t.Errorf("manual selector job got labels %v", manual.Spec.Template.Labels)
	}
	appstest.NoErrors(t, Validate(manual))
	manual.Spec.Selector = appstest.Selector(map[string]string{"app": "other"})
	appstest.HasError(t, Validate(manual), field.ErrorTypeInvalid, "spec.template.metadata.labels")

	// A user's conflicting label is kept and rejected.
	conflict := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "c", UID: uid},
		Spec:       batchv1.JobSpec{Template: appstest.PodTemplate(map[string]string{"job-name": "other"}, corev1.RestartPolicyNever)},
	}
	Default(conflict)
	Resource().PrepareForCreate(context.Background(), conflict)
	appstest.HasErrorDetail(t, Validate(conflict), field.ErrorTypeInvalid, "spec.template.metadata.labels[job-name]", "must be 'c'")

	// Without a uid the generated selector would be empty.
	noUID := created()
	noUID.UID = ""
	appstest.HasError(t, Validate(noUID), field.ErrorTypeRequired, "metadata.uid")
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*batchv1.Job)
		typ    field.ErrorType
		path   string
		detail string
	}{
		{"restart always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			field.ErrorTypeRequired, "spec.template.spec.restartPolicy", `valid values: "OnFailure", "Never"`},
		{"negative parallelism", func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](-1) }, field.ErrorTypeInvalid, "spec.parallelism", ""},
		{"negative completions", func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](-1) }, field.ErrorTypeInvalid, "spec.completions", ""},
		{"negative backoff", func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](-1) }, field.ErrorTypeInvalid, "spec.backoffLimit", ""},
		{"negative deadline", func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](-1) }, field.ErrorTypeInvalid, "spec.activeDeadlineSeconds", ""},
		{"negative ttl", func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = ptr.To[int32](-1) }, field.ErrorTypeInvalid, "spec.ttlSecondsAfterFinished", ""},
		{"no selector", func(j *batchv1.Job) { j.Spec.Selector = nil }, field.ErrorTypeRequired, "spec.selector", ""},
		{"completion mode", func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To[batchv1.CompletionMode]("Sometimes") },
			field.ErrorTypeNotSupported, "spec.completionMode", ""},
		{"indexed without completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, field.ErrorTypeRequired, "spec.completions", "when completion mode is Indexed"},
		{"per index on non-indexed", func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr.To[int32](1) },
			field.ErrorTypeInvalid, "spec.backoffLimitPerIndex", "requires indexed completion mode"},
		{"max failed without per index", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.MaxFailedIndexes = ptr.To[int32](1)
		}, field.ErrorTypeRequired, "spec.backoffLimitPerIndex", "when maxFailedIndexes is specified"},
		{"indexed name too long", func(j *batchv1.Job) {
			j.Name = strings.Repeat("a", 62)
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](10)
		}, field.ErrorTypeInvalid, "metadata.name", "will not able to create pod with invalid DNS label"},
		{"pod failure policy needs Never", func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:      batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}},
			}}}
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		}, field.ErrorTypeInvalid, "spec.template.spec.restartPolicy", `only "Never" is supported when podFailurePolicy is specified`},
		{"pod failure policy rule", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					ContainerName: ptr.To("nope"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{0, 3, 2, 2},
				},
			}}}
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		}, field.ErrorTypeInvalid, "spec.podFailurePolicy.rules[0].onExitCodes.values[0]", "must not be 0 for the In operator"},
		{"pod replacement with failure policy", func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:          batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
			}}}
		}, field.ErrorTypeNotSupported, "spec.podReplacementPolicy", ""},
		{"success policy on non-indexed", func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr.To[int32](1)}}}
		}, field.ErrorTypeInvalid, "spec.successPolicy", "requires indexed completion mode"},
		{"success policy indexes", func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](5)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("1-3,2")}}}
		}, field.ErrorTypeInvalid, "spec.successPolicy.rules[0].succeededIndexes", "error parsing succeededIndexes: non-increasing order"},
		{"managed by", func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("not a path") }, field.ErrorTypeInvalid, "spec.managedBy", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := created()
			tc.mutate(j)
			appstest.HasErrorDetail(t, Validate(j), tc.typ, tc.path, tc.detail)
		})
	}

	// The other exit-code mistakes of the rule case above.
	j := created()
	j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action: batchv1.PodFailurePolicyActionFailJob,
		OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			ContainerName: ptr.To("nope"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3, 2, 2},
		},
	}}}
	j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
	errs := Validate(j)
	rule := "spec.podFailurePolicy.rules[0].onExitCodes"
	appstest.HasError(t, errs, field.ErrorTypeInvalid, rule+".containerName")
	appstest.HasError(t, errs, field.ErrorTypeDuplicate, rule+".values[2]")
	appstest.HasErrorDetail(t, errs, field.ErrorTypeInvalid, rule+".values", "must be ordered")

	// A valid indexed job with a success policy.
	ok := created()
	ok.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	ok.Spec.Completions = ptr.To[int32](5)
	ok.Spec.Parallelism = ptr.To[int32](5)
	ok.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0,2-4"), SucceededCount: ptr.To[int32](2)}}}
	appstest.NoErrors(t, Validate(ok))
}

func TestValidateUpdate(t *testing.T) {
	old := created()

	mutable := old.DeepCopy()
	mutable.Spec.Parallelism = ptr.To[int32](4)
	mutable.Spec.Suspend = ptr.To(true)
	mutable.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
	mutable.Spec.BackoffLimit = ptr.To[int32](2)
	mutable.Spec.TTLSecondsAfterFinished = ptr.To[int32](100)
	appstest.NoErrors(t, ValidateUpdate(mutable, old))

	for name, c := range map[string]struct {
		mutate func(*batchv1.Job)
		path   string
	}{
		"completions":    {func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](3) }, "spec.completions"},
		"template":       {func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:6" }, "spec.template"},
		"selector":       {func(j *batchv1.Job) { j.Spec.Selector.MatchLabels["job-name"] = "pi" }, "spec.selector"},
		"completionMode": {func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) }, "spec.completionMode"},
		"managedBy":      {func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("example.com/queue") }, "spec.managedBy"},
	} {
		j := old.DeepCopy()
		c.mutate(j)
		errs := ValidateUpdate(j, old)
		appstest.HasErrorDetail(t, errs, field.ErrorTypeInvalid, c.path, "field is immutable")
		if t.Failed() {
			t.Fatalf("case %s", name)
		}
	}

	// A suspended job that never started may change scheduling directives.
	suspended := old.DeepCopy()
	suspended.Spec.Suspend = ptr.To(true)
	j := suspended.DeepCopy()
	j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
	j.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}
	j.Spec.Template.Annotations = map[string]string{"a": "b"}
	appstest.NoErrors(t, ValidateUpdate(j, suspended))
	j.Spec.Template.Spec.Containers[0].Image = "perl:6"
	appstest.HasError(t, ValidateUpdate(j, suspended), field.ErrorTypeInvalid, "spec.template")
	started := suspended.DeepCopy()
	started.Status.StartTime = ptr.To(metav1.Now())
	j = started.DeepCopy()
	j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
	appstest.HasError(t, ValidateUpdate(j, started), field.ErrorTypeInvalid, "spec.template")

	// Elastic indexed jobs scale completions with parallelism.
	indexed := old.DeepCopy()
	indexed.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	indexed.Spec.Completions = ptr.To[int32](4)
	indexed.Spec.Parallelism = ptr.To[int32](4)
	j = indexed.DeepCopy()
	j.Spec.Completions = ptr.To[int32](6)
	j.Spec.Parallelism = ptr.To[int32](6)
	appstest.NoErrors(t, ValidateUpdate(j, indexed))
	j.Spec.Parallelism = ptr.To[int32](5)
	appstest.HasErrorDetail(t, ValidateUpdate(j, indexed), field.ErrorTypeInvalid, "spec.completions", "can only be modified in tandem with spec.parallelism")

	// Jobs stored before the prefixed labels existed stay updatable.
	legacy := old.DeepCopy()
	delete(legacy.Spec.Template.Labels, batchv1.JobNameLabel)
	legacy.Spec.Selector = appstest.Selector(map[string]string{LegacyControllerUIDLabel: string(uid)})
	j = legacy.DeepCopy()
	j.Spec.Parallelism = ptr.To[int32](2)
	appstest.NoErrors(t, ValidateUpdate(j, legacy))
	appstest.HasError(t, Validate(legacy), field.ErrorTypeRequired, "spec.template.metadata.labels[batch.kubernetes.io/job-name]")
}

func TestStrategy(t *testing.T) {
	res := Resource()
	old := created()
	old.Status = batchv1.JobStatus{Active: 1}

	j := old.DeepCopy()
	j.Status.Active = 0
	j.Labels = map[string]string{"x": "y"}
	res.PrepareForUpdate(context.Background(), j, old)
	if j.Generation != 1 || j.Status.Active != 1 {
		t.Errorf("generation %d status %+v", j.Generation, j.Status)
	}
	j.Spec.Suspend = ptr.To(true)
	res.PrepareForUpdate(context.Background(), j, old)
	if j.Generation != 2 {
		t.Errorf("spec change: generation %d", j.Generation)
	}

	st := old.DeepCopy()
	st.Spec.Parallelism = ptr.To[int32](9)
	res.Status.PrepareForUpdate(context.Background(), st, old)
	if *st.Spec.Parallelism != 1 {
		t.Error("status write changed the spec")
	}
	if res.DefaultPropagation != metav1.DeletePropagationOrphan {
		t.Errorf("propagation %q, want Orphan for batch/v1 jobs", res.DefaultPropagation)
	}
}

func TestStatusValidation(t *testing.T) {
	start := metav1.NewTime(time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC))
	end := metav1.NewTime(start.Add(time.Minute))
	running := created()
	running.Status = batchv1.JobStatus{Active: 1, StartTime: &start}

	complete := running.DeepCopy()
	complete.Status = batchv1.JobStatus{
		StartTime: &start, CompletionTime: &end, Succeeded: 1,
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue},
		},
	}
	appstest.NoErrors(t, ValidateStatusUpdate(complete, running))

	cases := []struct {
		name     string
		old, new func() *batchv1.Job
		typ      field.ErrorType
		path     string
		detail   string
	}{
		{"finished with active pods", func() *batchv1.Job { return running }, func() *batchv1.Job {
			j := complete.DeepCopy()
			j.Status.Active = 1
			return j
		}, field.ErrorTypeInvalid, "status.active", "active>0 is invalid for finished job"},
		{"complete without completion time", func() *batchv1.Job { return running }, func() *batchv1.Job {
			j := complete.DeepCopy()
			j.Status.CompletionTime = nil
			return j
		}, field.ErrorTypeRequired, "status.completionTime", "completionTime is required for Complete jobs"},
		{"completion before start", func() *batchv1.Job { return running }, func() *batchv1.Job {
			j := complete.DeepCopy()
			before := metav1.NewTime(start.Add(-time.Minute))
			j.Status.CompletionTime = &before
			return j
		}, field.ErrorTypeInvalid, "status.completionTime", "completionTime cannot be set before startTime"},
		{"un-complete", func() *batchv1.Job { return complete }, func() *batchv1.Job {
			j := complete.DeepCopy()
			j.Status.Conditions = j.Status.Conditions[:1]
			j.Status.CompletionTime = nil
			return j
		}, field.ErrorTypeInvalid, "status.conditions", "cannot disable the terminal Complete=True condition"},
		{"failed counter down", func() *batchv1.Job {
			j := running.DeepCopy()
			j.Status.Failed = 2
			return j
		}, func() *batchv1.Job { return running }, field.ErrorTypeInvalid, "status.failed", "cannot decrease the failed counter"},
		{"non-indexed completed indexes", func() *batchv1.Job { return running }, func() *batchv1.Job {
			j := running.DeepCopy()
			j.Status.CompletedIndexes = "0"
			return j
		}, field.ErrorTypeInvalid, "status.completedIndexes", "cannot set non-empty completedIndexes when non-indexed completion mode"},
		{"duplicate uncounted", func() *batchv1.Job { return running }, func() *batchv1.Job {
			j := running.DeepCopy()
			j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a"}, Failed: []types.UID{"a"}}
			return j
		}, field.ErrorTypeDuplicate, "status.uncountedTerminatedPods.failed[0]", ""},
		{"negative ready", func() *batchv1.Job { return running }, func() *batchv1.Job {
			j := running.DeepCopy()
			j.Status.Ready = ptr.To[int32](-1)
			return j
		}, field.ErrorTypeInvalid, "status.ready", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			appstest.HasErrorDetail(t, ValidateStatusUpdate(tc.new(), tc.old()), tc.typ, tc.path, tc.detail)
		})
	}

	// Rules about unchanged fields do not block unrelated updates.
	broken := complete.DeepCopy()
	broken.Status.Active = 2
	touch := broken.DeepCopy()
	touch.Status.Ready = ptr.To[int32](0)
	appstest.NoErrorAt(t, ValidateStatusUpdate(touch, broken), "status.active")
}

func TestTable(t *testing.T) {
	res := Resource()
	j := created()
	j.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Hour))
	start := metav1.NewTime(time.Now().Add(-50 * time.Minute))
	end := metav1.NewTime(start.Add(75 * time.Second))
	j.Status = batchv1.JobStatus{
		Succeeded: 1, StartTime: &start, CompletionTime: &end,
		Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}},
	}
	want := []interface{}{"pi", "Complete", "1/1", "75s", "60m", "web", "nginx:1.27", "batch.kubernetes.io/controller-uid=" + string(uid)}
	if got := res.Cells(j); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("cells %#v, want %#v", got, want)
	}
	if len(res.Columns) != len(want) || res.Columns[1].Name != "Status" || res.Columns[2].Name != "Completions" || res.Columns[3].Name != "Duration" {
		t.Errorf("columns %+v", res.Columns)
	}

	statusCases := []struct {
		conditions []batchv1.JobCondition
		deleting   bool
		want       string
	}{
		{nil, false, "Running"},
		{[]batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}, false, "Failed"},
		{[]batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue}}, false, "Suspended"},
		{[]batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionFalse}}, false, "Running"},
		{[]batchv1.JobCondition{{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue}}, false, "FailureTarget"},
		{[]batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue}}, true, "Terminating"},
	}
	for _, tc := range statusCases {
		j := created()
		j.Status.Conditions = tc.conditions
		if tc.deleting {
			j.DeletionTimestamp = ptr.To(metav1.Now())
		}
		if got := status(j); got != tc.want {
			t.Errorf("%v deleting=%v: %q, want %q", tc.conditions, tc.deleting, got, tc.want)
		}
	}

	queue := created()
	queue.Spec.Completions = nil
	queue.Spec.Parallelism = ptr.To[int32](3)
	if got := completions(queue); got != "0/1 of 3" {
		t.Errorf("work queue completions %q", got)
	}
	now := time.Now()
	queue.Status.StartTime = ptr.To(metav1.NewTime(now.Add(-2 * time.Minute)))
	if got := jobDuration(queue, now); got != "2m" {
		t.Errorf("running duration %q", got)
	}
	queue.Status.StartTime = nil
	if got := jobDuration(queue, now); got != "" {
		t.Errorf("not started duration %q", got)
	}

	if got := res.Fields(j); !equality.Semantic.DeepEqual(got, fields.Set{"status.successful": "1"}) {
		t.Errorf("fields %v", got)
	}
}
