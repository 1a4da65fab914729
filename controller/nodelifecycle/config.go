package nodelifecycle

import (
	"errors"
	"time"
)

// Config holds the node lifecycle controller's tunables beyond
// controller.Options (which gives the grace and monitor periods). Zero
// fields take the defaults, which are kube-controller-manager's.
type Config struct {
	// NodeStartupGracePeriod is how long a node that never posted a Ready
	// condition may stay silent before it is marked Unknown
	// (--node-startup-grace-period). Default 60s.
	NodeStartupGracePeriod time.Duration
	// NodeEvictionRate is how many nodes per second of a healthy zone get
	// their NoExecute taint (--node-eviction-rate). Default 0.1.
	NodeEvictionRate float32
	// SecondaryNodeEvictionRate is that rate in a partially disrupted zone
	// larger than LargeClusterSizeThreshold; smaller such zones taint no
	// node (--secondary-node-eviction-rate). Default 0.01.
	SecondaryNodeEvictionRate float32
	// LargeClusterSizeThreshold is the zone size above which the secondary
	// rate applies (--large-cluster-size-threshold). Default 50.
	LargeClusterSizeThreshold int32
	// UnhealthyZoneThreshold is the fraction of not-ready nodes (at least
	// three) that makes a zone partially disrupted
	// (--unhealthy-zone-threshold). Default 0.55.
	UnhealthyZoneThreshold float32
	// TaintPeriod is how often queued NoExecute taints are applied.
	// Default 100ms.
	TaintPeriod time.Duration
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.NodeStartupGracePeriod == 0 {
		c.NodeStartupGracePeriod = 60 * time.Second
	}
	if c.NodeEvictionRate == 0 {
		c.NodeEvictionRate = 0.1
	}
	if c.SecondaryNodeEvictionRate == 0 {
		c.SecondaryNodeEvictionRate = 0.01
	}
	if c.LargeClusterSizeThreshold == 0 {
		c.LargeClusterSizeThreshold = 50
	}
	if c.UnhealthyZoneThreshold == 0 {
		c.UnhealthyZoneThreshold = 0.55
	}
	if c.TaintPeriod == 0 {
		c.TaintPeriod = 100 * time.Millisecond
	}
}

// Validate checks a defaulted configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.NodeStartupGracePeriod < 0 {
		errs = append(errs, errors.New("nodeStartupGracePeriod must not be negative"))
	}
	if c.NodeEvictionRate < 0 || c.SecondaryNodeEvictionRate < 0 {
		errs = append(errs, errors.New("eviction rates must not be negative"))
	}
	if c.LargeClusterSizeThreshold < 0 {
		errs = append(errs, errors.New("largeClusterSizeThreshold must not be negative"))
	}
	if c.UnhealthyZoneThreshold < 0 || c.UnhealthyZoneThreshold > 1 {
		errs = append(errs, errors.New("unhealthyZoneThreshold must be between 0 and 1"))
	}
	if c.TaintPeriod < 0 {
		errs = append(errs, errors.New("taintPeriod must not be negative"))
	}
	return errors.Join(errs...)
}
