package openapi

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestEnumProperties(t *testing.T) {
	cases := []struct {
		def, prop string
		enum      []interface{}
		desc      string
	}{
		{
			"io.k8s.api.apps.v1.DeploymentStrategy", "type",
			[]interface{}{"Recreate", "RollingUpdate"},
			"Type of deployment. Can be \"Recreate\" or \"RollingUpdate\". Default is RollingUpdate.\n\n" +
				"Possible enum values:\n" +
				" - `\"Recreate\"` Kill all existing pods before creating new ones.\n" +
				" - `\"RollingUpdate\"` Replace the old ReplicaSets by new one using rolling update i.e gradually scale down the old ReplicaSets and scale up the new one.",
		},
		{
			// Values sorted, not in source order (Always, Never, IfNotPresent);
			// the leading constant name is cut from each doc.
			"io.k8s.api.core.v1.Container", "imagePullPolicy",
			[]interface{}{"Always", "IfNotPresent", "Never"},
			"Image pull policy. One of Always, Never, IfNotPresent. Defaults to Always if :latest tag is specified, or IfNotPresent otherwise. Cannot be updated. More info: https://kubernetes.io/docs/concepts/containers/images#updating-images\n\n" +
				"Possible enum values:\n" +
				" - `\"Always\"` means that kubelet always attempts to pull the latest image. Container will fail If the pull fails.\n" +
				" - `\"IfNotPresent\"` means that kubelet pulls if the image isn't present on disk. Container will fail if the image isn't present and the pull fails.\n" +
				" - `\"Never\"` means that kubelet never pulls an image, but only uses a local image. Container will fail if the image isn't present",
		},
		{
			// Constants without a doc comment.
			"io.k8s.api.core.v1.PodSpec", "restartPolicy",
			[]interface{}{"Always", "Never", "OnFailure"},
			"Restart policy for all containers within the pod. One of Always, OnFailure, Never. In some contexts, only a subset of those values may be permitted. Default to Always. More info: https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#restart-policy\n\n" +
				"Possible enum values:\n" +
				" - `\"Always\"`\n" +
				" - `\"Never\"`\n" +
				" - `\"OnFailure\"`",
		},
	}
	for _, v3 := range []bool{false, true} {
		m := testModel(t, v3)
		for _, c := range cases {
			p := prop(t, def(t, m, c.def), c.prop)
			if !reflect.DeepEqual(p.Enum, c.enum) {
				t.Errorf("v3=%v: %s.%s enum %v, want %v", v3, c.def, c.prop, p.Enum, c.enum)
			}
			if p.Description != c.desc {
				t.Errorf("v3=%v: %s.%s description\n%q\nwant\n%q", v3, c.def, c.prop, p.Description, c.desc)
			}
		}

		// A pointer to an enum type is one too.
		fsg := prop(t, def(t, m, "io.k8s.api.core.v1.PodSecurityContext"), "fsGroupChangePolicy")
		if !reflect.DeepEqual(fsg.Enum, []interface{}{"Always", "OnRootMismatch"}) || !strings.Contains(fsg.Description, "\n\nPossible enum values:\n - `\"Always\"` indicates") {
			t.Errorf("v3=%v: fsGroupChangePolicy enum %v, description %q", v3, fsg.Enum, fsg.Description)
		}
		// Lists and maps of an enum type enumerate their items; their own
		// description stays as it is.
		modes := prop(t, def(t, m, "io.k8s.api.core.v1.PersistentVolumeClaimSpec"), "accessModes")
		if modes.Items == nil || !reflect.DeepEqual(modes.Items.Schema.Enum, []interface{}{"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"}) {
			t.Errorf("v3=%v: accessModes items %+v", v3, modes.Items)
		}
		if len(modes.Enum) != 0 || strings.Contains(modes.Description, "Possible enum values") {
			t.Errorf("v3=%v: accessModes itself has enum %v, description %q", v3, modes.Enum, modes.Description)
		}
		statuses := prop(t, def(t, m, "io.k8s.api.core.v1.PersistentVolumeClaimStatus"), "allocatedResourceStatuses")
		if statuses.AdditionalProperties == nil || len(statuses.AdditionalProperties.Schema.Enum) != 5 ||
			strings.Contains(statuses.Description, "Possible enum values") {
			t.Errorf("v3=%v: allocatedResourceStatuses %+v", v3, statuses)
		}
		// A string type not marked +enum has none.
		if p := prop(t, def(t, m, "io.k8s.api.apps.v1.DeploymentCondition"), "type"); len(p.Enum) != 0 || strings.Contains(p.Description, "Possible") {
			t.Errorf("v3=%v: DeploymentCondition.type %+v", v3, p)
		}
	}
}

func TestEnumOf(t *testing.T) {
	if _, ok := enumOf(reflect.TypeOf(appsv1.RecreateDeploymentStrategyType)); !ok {
		t.Error("DeploymentStrategyType is not an enum")
	}
	for _, v := range []interface{}{appsv1.DeploymentAvailable, corev1.ResourceCPU, "", 0} {
		if _, ok := enumOf(reflect.TypeOf(v)); ok {
			t.Errorf("%T is an enum", v)
		}
	}
}

func TestEnumFormatting(t *testing.T) {
	// openapi-gen sorts the values by their Go-quoted form ("a b" before
	// "a": '"' sorts after ' '), and the lines as a whole.
	vs := []enumValue{{"a", "first"}, {"B", ""}, {"a b", "with  a space"}, {`q"`, "quoted"}}
	if got, want := enumList(vs), []interface{}{"B", "a b", "a", `q"`}; !reflect.DeepEqual(got, want) {
		t.Errorf("enumList = %q, want %q", got, want)
	}
	want := "Possible enum values:\n - `\"B\"`\n - `\"a b\"` with  a space\n - `\"a\"` first\n - `\"q\\\"\"` quoted"
	if got := enumDescription("", vs); got != want {
		t.Errorf("enumDescription without doc =\n%q\nwant\n%q", got, want)
	}
	if got := enumDescription("Doc.", vs[:1]); got != "Doc.\n\nPossible enum values:\n - `\"a\"` first" {
		t.Errorf("enumDescription = %q", got)
	}
}

// TestEnumsGeneratedUpToDate regenerates enums_generated.go from the
// k8s.io/api sources the module uses and compares.
func TestEnumsGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/api").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("k8s.io/api module directory not found (%v)", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("k8s.io/api module directory: %v", err)
	}
	tmp := filepath.Join(t.TempDir(), "enums_generated.go")
	cmd := exec.Command("go", "run", "./internal/genenums", "-o", tmp)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genenums: %v\n%s", err, msg)
	}
	got, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("enums_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, have) {
		t.Errorf("enums_generated.go is out of date: run go generate ./apiserver/openapi/")
	}
}

// TestKubectlExplainEnum checks that kubectl explain prints the values,
// from the enum list (1.30 and later) and from the description.
func TestKubectlExplainEnum(t *testing.T) {
	for _, version := range []string{"1.27", "1.30", "1.33"} {
		t.Run(version, func(t *testing.T) {
			kubeconfig, cache, _ := kubectlServer(t, nil)
			out := runKubectl(t, version, kubeconfig, cache, "explain", "deployment.spec.strategy")
			want := []string{"Possible enum values:", "- `\"Recreate\"` Kill all existing pods before creating new ones."}
			if version != "1.27" {
				want = append(want, "enum: Recreate, RollingUpdate")
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("kubectl explain deployment.spec.strategy: output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
