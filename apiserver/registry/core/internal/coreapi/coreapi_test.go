package coreapi

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestResourceNames(t *testing.T) {
	tests := []struct {
		name                                corev1.ResourceName
		standard, quota, container, integer bool
		extended, overcommit                bool
	}{
		{"cpu", true, true, true, false, false, true},
		{"storage", true, false, false, false, false, true},
		{"requests.storage", true, true, false, false, false, true},
		{"pods", true, true, false, true, false, true},
		{"hugepages-2Mi", true, true, true, false, false, false},
		{"requests.hugepages-2Mi", true, true, false, false, false, true},
		{"example.com/gpu", false, false, false, true, true, false},
		{"kubernetes.io/thing", false, false, false, false, false, true},
		{"requests.example.com/gpu", false, false, false, false, false, false},
		{"widgets", false, false, false, false, false, true},
	}
	for _, tc := range tests {
		t.Run(string(tc.name), func(t *testing.T) {
			got := [6]bool{IsStandardResourceName(tc.name), IsStandardQuotaResourceName(tc.name), IsStandardContainerResourceName(tc.name),
				IsIntegerResourceName(tc.name), IsExtendedResourceName(tc.name), IsOvercommitAllowed(tc.name)}
			want := [6]bool{tc.standard, tc.quota, tc.container, tc.integer, tc.extended, tc.overcommit}
			if got != want {
				t.Errorf("standard/quota/container/integer/extended/overcommit = %v, want %v", got, want)
			}
		})
	}
}

func TestValidateNames(t *testing.T) {
	p := field.NewPath("x")
	tests := []struct {
		name                      corev1.ResourceName
		resource, container, quot int
	}{
		{"cpu", 0, 0, 0},
		{"storage", 0, 1, 1},
		{"example.com/gpu", 0, 0, 0},
		{"widgets", 1, 2, 2},
		{"bad name", 1, 2, 2},
		{"requests.example.com/gpu", 0, 1, 0},
	}
	for _, tc := range tests {
		got := [3]int{len(ValidateResourceName(tc.name, p)), len(ValidateContainerResourceName(tc.name, p)), len(ValidateQuotaResourceName(tc.name, p))}
		if want := [3]int{tc.resource, tc.container, tc.quot}; got != want {
			t.Errorf("%s: error counts resource/container/quota = %v, want %v", tc.name, got, want)
		}
	}
}

func TestQuantities(t *testing.T) {
	p := field.NewPath("q")
	if errs := ValidateResourceQuantityValue("pods", resource.MustParse("1500m"), p); len(errs) != 1 || errs[0].Detail != "must be an integer" {
		t.Errorf("fractional pods: %v", errs)
	}
	if errs := ValidateResourceQuantityValue("cpu", resource.MustParse("-1"), p); len(errs) != 1 || errs[0].Detail != "must be greater than or equal to 0" {
		t.Errorf("negative cpu: %v", errs)
	}
	if errs := ValidateResourceQuantityValue("cpu", resource.MustParse("1500m"), p); len(errs) != 0 {
		t.Errorf("fractional cpu: %v", errs)
	}
	l := corev1.ResourceList{"cpu": resource.MustParse("1.0001"), "memory": resource.MustParse("1Gi")}
	RoundUpResourceList(l)
	if c, m := l["cpu"], l["memory"]; c.String() != "1001m" || m.String() != "1Gi" {
		t.Errorf("rounded = %v", l)
	}
}

func TestIPs(t *testing.T) {
	p := field.NewPath("ip")
	tests := []struct {
		ip                   string
		legacyOK, nonSpecial bool
	}{
		{"10.0.0.1", true, true},
		{"010.000.000.001", true, true},
		{"fd00::1", true, true},
		{"0.0.0.0", true, false},
		{"127.0.0.1", true, false},
		{"169.254.169.254", true, false},
		{"fe80::1", true, false},
		{"224.0.0.251", true, false},
		{"10.0.0", false, false},
	}
	for _, tc := range tests {
		if ok := len(LegacyIP(p, tc.ip)) == 0; ok != tc.legacyOK {
			t.Errorf("LegacyIP(%s) ok = %v", tc.ip, ok)
		}
		if ok := len(NonSpecialIP(tc.ip, p)) == 0; ok != tc.nonSpecial {
			t.Errorf("NonSpecialIP(%s) ok = %v", tc.ip, ok)
		}
	}
	if len(LegacyCIDR(p, "10.0.0.0/8")) != 0 || len(LegacyCIDR(p, "10.0.0.1")) == 0 {
		t.Error("LegacyCIDR")
	}
}

func TestPorts(t *testing.T) {
	p := field.NewPath("p")
	if len(PortProtocol(corev1.ProtocolSCTP, p)) != 0 || PortProtocol("", p)[0].Type != field.ErrorTypeRequired || PortProtocol("ICMP", p)[0].Type != field.ErrorTypeNotSupported {
		t.Error("PortProtocol")
	}
	if len(PortNumber(65535, p)) != 0 || len(PortNumber(0, p)) == 0 || len(PortNumber(65536, p)) == 0 {
		t.Error("PortNumber")
	}
}
