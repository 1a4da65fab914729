package serviceaccount

import (
	"slices"
	"testing"

	"berth/controller"
)

func TestConfig(t *testing.T) {
	var c Config
	c.Defaults(controller.Options{Workers: 3})
	if !slices.Equal(c.ServiceAccounts, []string{"default"}) || c.Workers != 3 {
		t.Errorf("defaults %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	bad := Config{ServiceAccounts: []string{""}}
	if bad.Validate() == nil {
		t.Error("empty name accepted")
	}
}
