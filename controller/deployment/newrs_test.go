package deployment

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth/controller"
)

// TestNewReplicaSetNameAndCollision: the new ReplicaSet is named after the
// template hash; when a foreign ReplicaSet holds that name, collisionCount
// goes up and the next attempt takes another name.
func TestNewReplicaSetNameAndCollision(t *testing.T) {
	d := mkDeployment(3, "25%", "25%")
	hash := ComputeHash(&d.Spec.Template, nil)
	squatter := mkReplicaSet("web-"+hash, 1, 1, time.Hour, nil)
	squatter.Spec.Template = *template("other:1", map[string]string{"app": "web"})
	client := fake.NewSimpleClientset(d, squatter)
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(10)
	c, err := newController(&controller.Shared{
		Client: client, Informers: factory,
		Recorder: func(string) record.EventRecorder { return recorder },
		Now:      func() time.Time { return t0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := factory.Apps().V1().ReplicaSets().Informer().GetStore().Add(squatter); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.newReplicaSet(ctx, d, nil, nil, true); err == nil {
		t.Fatal("a name collision was not reported")
	}
	if d.Status.CollisionCount == nil || *d.Status.CollisionCount != 1 {
		t.Fatalf("collisionCount %v, want 1", d.Status.CollisionCount)
	}
	rs, err := c.newReplicaSet(ctx, d, nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "web-" + ComputeHash(&d.Spec.Template, ptr.To[int32](1))
	if rs.Name != want || rs.Name == squatter.Name {
		t.Errorf("new replica set %s, want %s", rs.Name, want)
	}
	if rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != rs.Name[len("web-"):] ||
		rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != rs.Name[len("web-"):] ||
		rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != rs.Name[len("web-"):] {
		t.Errorf("hash labels %v %v", rs.Labels, rs.Spec.Selector)
	}
	if *rs.Spec.Replicas != 3 || rs.Annotations[RevisionAnnotation] != "1" {
		t.Errorf("new replica set of %d, revision %s", *rs.Spec.Replicas, rs.Annotations[RevisionAnnotation])
	}
	if got := <-recorder.Events; got != "Normal ScalingReplicaSet Scaled up replica set "+want+" from 0 to 3" {
		t.Errorf("event %q", got)
	}
	cond := deploymentCondition(d.Status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason != "NewReplicaSetCreated" || cond.Message != `Created new replica set "`+want+`"` {
		t.Errorf("progressing %+v", cond)
	}
	if d.Annotations[RevisionAnnotation] != "1" {
		t.Errorf("deployment revision %q", d.Annotations[RevisionAnnotation])
	}
	// The deployment is stored with its revision and condition.
	stored, err := client.AppsV1().Deployments("ns").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || stored.Annotations[RevisionAnnotation] != "1" || *stored.Status.CollisionCount != 1 {
		t.Errorf("stored deployment %v %v", stored, err)
	}
}
