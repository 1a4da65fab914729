package framework

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Code is the outcome of a plugin.
type Code int

const (
	// Success means the plugin ran and the pod may go on. A nil *Status is
	// a success too.
	Success Code = iota
	// Error is an internal error: the pod is retried after a back-off.
	Error
	// Unschedulable means the pod does not fit, but preemption might help.
	Unschedulable
	// UnschedulableAndUnresolvable means the pod does not fit and
	// preemption cannot help.
	UnschedulableAndUnresolvable
	// Skip from PreFilter or PreScore means the plugin's Filter or Score
	// has nothing to do for this pod and is not called.
	Skip
)

// String names the code as Kubernetes does.
func (c Code) String() string {
	switch c {
	case Success:
		return "Success"
	case Error:
		return "Error"
	case Unschedulable:
		return "Unschedulable"
	case UnschedulableAndUnresolvable:
		return "UnschedulableAndUnresolvable"
	case Skip:
		return "Skip"
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Status is what a plugin returns: a code, the reasons (shown to users in
// the FailedScheduling message), an error for Error, and the plugin that
// returned it.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a status with a code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps an error in a status with code Error; nil gives nil.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, err: err}
}

// Code is the status code; a nil status is Success.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// Reasons are the status' reasons, its error's message first.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	if s.err != nil {
		return append([]string{s.err.Error()}, s.reasons...)
	}
	return s.reasons
}

// Message joins the reasons with ", ".
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.Reasons(), ", ")
}

// IsSuccess is true for nil and Success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsSkip is true for Skip.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsRejected is true when the pod does not fit (Unschedulable or
// UnschedulableAndUnresolvable).
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// AsError returns the status as an error; nil for a success.
func (s *Status) AsError() error {
	if s.IsSuccess() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(s.Message())
}

// WithError sets the error of the status and returns it.
func (s *Status) WithError(err error) *Status {
	s.err = err
	return s
}

// Plugin is the name of the plugin that returned the status.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin records the plugin that returned the status and returns it.
func (s *Status) WithPlugin(name string) *Status {
	if s != nil {
		s.plugin = name
	}
	return s
}

// Equal compares code, reasons and error messages (for tests).
func (s *Status) Equal(o *Status) bool {
	if s == nil || o == nil {
		return s.IsSuccess() && o.IsSuccess()
	}
	if s.code != o.code || s.plugin != o.plugin {
		return false
	}
	return s.Message() == o.Message()
}

// String is the code and the message.
func (s *Status) String() string {
	if s == nil {
		return "Success"
	}
	return s.code.String() + ": " + s.Message()
}

// ErrNoNodesAvailable is the scheduling error when there are no nodes.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// NodeToStatus records why each node was rejected. Nodes without an entry
// ("absent" nodes, such as nodes a PreFilter result excluded) share one
// status.
type NodeToStatus struct {
	statuses map[string]*Status
	absent   *Status
}

// NewDefaultNodeToStatus returns an empty map whose absent nodes are
// UnschedulableAndUnresolvable without a reason.
func NewDefaultNodeToStatus() *NodeToStatus {
	return &NodeToStatus{statuses: map[string]*Status{}, absent: NewStatus(UnschedulableAndUnresolvable)}
}

// Get returns a node's status.
func (m *NodeToStatus) Get(node string) *Status {
	if s, ok := m.statuses[node]; ok {
		return s
	}
	return m.absent
}

// Set records a node's status.
func (m *NodeToStatus) Set(node string, s *Status) { m.statuses[node] = s }

// Len is the number of nodes with their own status.
func (m *NodeToStatus) Len() int { return len(m.statuses) }

// AbsentNodesStatus is the status of nodes without their own.
func (m *NodeToStatus) AbsentNodesStatus() *Status { return m.absent }

// SetAbsentNodesStatus sets the status of nodes without their own.
func (m *NodeToStatus) SetAbsentNodesStatus(s *Status) { m.absent = s }

// ForEachExplicitNode calls fn for every node with its own status.
func (m *NodeToStatus) ForEachExplicitNode(fn func(node string, s *Status)) {
	for n, s := range m.statuses {
		fn(n, s)
	}
}

// NodesForStatusCode returns the nodes of lister whose status has code.
func (m *NodeToStatus) NodesForStatusCode(nodes []*NodeInfo, code Code) []*NodeInfo {
	var out []*NodeInfo
	for _, n := range nodes {
		if m.Get(n.Node().Name).Code() == code {
			out = append(out, n)
		}
	}
	return out
}

// Diagnosis is why a pod fits nowhere.
type Diagnosis struct {
	// NodeToStatus holds each node's rejection.
	NodeToStatus *NodeToStatus
	// UnschedulablePlugins rejected the pod; the queue retries it when
	// an event one of them cares about happens.
	UnschedulablePlugins sets.Set[string]
	// PreFilterMsg is the message of a PreFilter plugin that rejected the
	// pod outright.
	PreFilterMsg string
	// PostFilterMsg is the message of the PostFilter plugins (preemption).
	PostFilterMsg string
}

// FitError is the scheduling error of a pod that fits no node.
type FitError struct {
	Pod         *v1.Pod
	NumAllNodes int
	Diagnosis   Diagnosis
}

// NoNodeAvailableMsg starts the message of a FitError.
const NoNodeAvailableMsg = "0/%v nodes are available"

// Error words the failure as Kubernetes does: "0/3 nodes are available:
// 3 Insufficient cpu. preemption: ...", reasons counted over the nodes and
// sorted.
func (f *FitError) Error() string {
	msg := fmt.Sprintf(NoNodeAvailableMsg+":", f.NumAllNodes)
	if f.Diagnosis.PreFilterMsg != "" {
		msg += " " + f.Diagnosis.PreFilterMsg + "."
	} else if m := f.Diagnosis.NodeToStatus; m != nil {
		counts := map[string]int{}
		m.ForEachExplicitNode(func(_ string, s *Status) {
			for _, r := range s.Reasons() {
				counts[r]++
			}
		})
		if m.Len() < f.NumAllNodes {
			for _, r := range m.AbsentNodesStatus().Reasons() {
				counts[r] += f.NumAllNodes - m.Len()
			}
		}
		reasons := make([]string, 0, len(counts))
		for r, n := range counts {
			reasons = append(reasons, fmt.Sprintf("%v %v", n, r))
		}
		sort.Strings(reasons)
		if len(reasons) > 0 {
			msg += " " + strings.Join(reasons, ", ") + "."
		}
	}
	if f.Diagnosis.PostFilterMsg != "" {
		msg += " " + f.Diagnosis.PostFilterMsg
	}
	return msg
}
