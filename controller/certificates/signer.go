package certificates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"

	"berth/controller"
	"berth/pki"
)

// DefaultDuration is the longest certificate the signer issues unless
// configured otherwise (kube-controller-manager's
// --cluster-signing-duration).
const DefaultDuration = 365 * 24 * time.Hour

// Config configures the signer.
type Config struct {
	// CA signs the certificates. Required.
	CA *pki.CA
	// Duration is the longest certificate issued; a request may ask for
	// less with spec.expirationSeconds. Default DefaultDuration.
	Duration time.Duration
	// Workers is the number of requests signed concurrently. Default:
	// Options.Workers.
	Workers int
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.CA == nil || c.CA.Cert == nil || c.CA.Key == nil {
		return errors.New("certificate signer: no CA with its key")
	}
	if c.Duration < 0 || c.Workers < 0 {
		return errors.New("certificate signer: negative duration or workers")
	}
	return nil
}

// Signer issues the certificates of approved requests for the signers
// kubernetes.io/kube-apiserver-client-kubelet, kubernetes.io/kubelet-serving
// and kubernetes.io/kube-apiserver-client. A request that breaks its
// signer's rules gets a Failed condition instead.
type Signer struct {
	cfg    Config
	client kubernetes.Interface
	csrs   certlisters.CertificateSigningRequestLister
	synced cache.InformerSynced
	worker *controller.Worker
	now    func() time.Time
	logger *slog.Logger
}

var _ controller.Controller = (*Signer)(nil)

// NewWithConfig returns the signing controller.
func NewWithConfig(s *controller.Shared, cfg Config) (controller.Controller, error) {
	if cfg.Duration == 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Workers == 0 {
		cfg.Workers = max(s.Options.Workers, 1)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("controller", "csrsigning")
	now := s.Now
	if now == nil {
		now = time.Now
	}
	inf := s.Informers.Certificates().V1().CertificateSigningRequests()
	sg := &Signer{cfg: cfg, client: s.Client, csrs: inf.Lister(), synced: inf.Informer().HasSynced, now: now, logger: logger}
	sg.worker = controller.NewWorker("certificatesigningrequest_signing", logger, sg.sync)
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    sg.worker.AddObject,
		UpdateFunc: func(_, obj interface{}) { sg.worker.AddObject(obj) },
	}); err != nil {
		return nil, err
	}
	return sg, nil
}

// Run signs until ctx ends.
func (sg *Signer) Run(ctx context.Context) error {
	sg.logger.Info("starting")
	defer sg.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), sg.synced) {
		return nil
	}
	sg.worker.Run(ctx, sg.cfg.Workers)
	return nil
}

func (sg *Signer) sync(ctx context.Context, name string) error {
	csr, err := sg.csrs.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hasCondition(csr, certificatesv1.CertificateApproved) || hasCondition(csr, certificatesv1.CertificateDenied) ||
		hasCondition(csr, certificatesv1.CertificateFailed) || len(csr.Status.Certificate) > 0 {
		return nil
	}
	req, err := parseRequest(csr.Spec.Request)
	if err != nil {
		return sg.fail(ctx, csr, "SignerValidationFailure", err.Error())
	}
	known, err := validateFor(csr.Spec.SignerName, req, csr.Spec.Usages)
	if !known {
		return nil
	}
	if err != nil {
		return sg.fail(ctx, csr, "SignerValidationFailure", err.Error())
	}
	certPEM, err := sign(sg.cfg.CA, req, csr.Spec.Usages, lifetime(csr.Spec.ExpirationSeconds, sg.cfg.Duration), sg.now())
	if err != nil {
		return fmt.Errorf("sign %s: %w", name, err)
	}
	csr = csr.DeepCopy()
	csr.Status.Certificate = certPEM
	if _, err := sg.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("issue %s: %w", name, err)
	}
	sg.logger.Info("issued", "csr", name, "signer", csr.Spec.SignerName, "subject", req.Subject.String())
	return nil
}

// fail marks a request Failed: the signer will not sign it.
func (sg *Signer) fail(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, reason, message string) error {
	csr = csr.DeepCopy()
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue,
		Reason: reason, Message: message, LastUpdateTime: metav1.NewTime(sg.now()),
	})
	if _, err := sg.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("mark %s failed: %w", csr.Name, err)
	}
	sg.logger.Info("refused to sign", "csr", csr.Name, "reason", message)
	return nil
}
