package ingress

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
)

// Defaults of Config.
const (
	DefaultClassName       = "berth"
	DefaultControllerName  = "berth.dev/ingress"
	DefaultHTTPAddr        = ":80"
	DefaultHTTPSAddr       = ":443"
	DefaultShutdownTimeout = 10 * time.Second
)

// Config configures the ingress controller.
type Config struct {
	// Informers is the factory the controller takes its Ingress,
	// IngressClass, Service, EndpointSlice and Secret informers from. New
	// registers them; the caller starts the factory (after New). Required.
	Informers informers.SharedInformerFactory
	// ClassName is the IngressClass this controller serves. Default
	// "berth".
	ClassName string
	// Controller is the spec.controller value of IngressClasses this
	// controller implements: Ingresses of any IngressClass naming it are
	// served too. Default "berth.dev/ingress".
	Controller string
	// HTTPAddr is where plain HTTP is served. Default ":80" (an empty
	// field means the default, as everywhere in Config: DisableHTTP turns
	// the listener off).
	HTTPAddr string
	// HTTPSAddr is where HTTPS is served. Default ":443".
	HTTPSAddr string
	// DisableHTTP and DisableHTTPS turn a listener off (unless one is
	// given below).
	DisableHTTP, DisableHTTPS bool
	// HTTPListener and HTTPSListener, if set, are used instead of
	// listening on HTTPAddr and HTTPSAddr (tests: 127.0.0.1:0). HTTPS
	// listeners get plain TCP; the controller does TLS. Run closes them.
	HTTPListener, HTTPSListener net.Listener
	// ShutdownTimeout bounds the graceful shutdown of the listeners when
	// Run's context ends; connections still open after it are closed.
	// Default 10s.
	ShutdownTimeout time.Duration
	// Logger defaults to slog.Default(). Each proxied request is logged at
	// info.
	Logger *slog.Logger
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.ClassName == "" {
		c.ClassName = DefaultClassName
	}
	if c.Controller == "" {
		c.Controller = DefaultControllerName
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = DefaultHTTPAddr
	}
	if c.HTTPSAddr == "" {
		c.HTTPSAddr = DefaultHTTPSAddr
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration (after Defaults).
func (c *Config) Validate() error {
	var errs []error
	if c.Informers == nil {
		errs = append(errs, errors.New("ingress: no informer factory"))
	}
	if msgs := validation.IsDNS1123Subdomain(c.ClassName); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("ingress: class name %q: %v", c.ClassName, msgs))
	}
	if c.Controller == "" {
		errs = append(errs, errors.New("ingress: no controller name"))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("ingress: negative shutdown timeout %s", c.ShutdownTimeout))
	}
	for _, a := range []struct {
		name, addr string
		off        bool
		ln         net.Listener
	}{{"http", c.HTTPAddr, c.DisableHTTP, c.HTTPListener}, {"https", c.HTTPSAddr, c.DisableHTTPS, c.HTTPSListener}} {
		if a.off || a.ln != nil {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("ingress: %s address: %w", a.name, err))
		}
	}
	if c.DisableHTTP && c.HTTPListener == nil && c.DisableHTTPS && c.HTTPSListener == nil {
		errs = append(errs, errors.New("ingress: both listeners disabled"))
	}
	return errors.Join(errs...)
}
