package certificates

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"

	"berth/controller"
	"berth/pki"
)

// How long requests are kept, as kube-controller-manager's csrcleaner.
const (
	approvedTTL = time.Hour
	deniedTTL   = time.Hour
	pendingTTL  = 24 * time.Hour
	// cleanInterval is how often the cleaner looks.
	cleanInterval = time.Hour
)

// Cleaner deletes requests no longer of use: issued, denied or failed
// ones after an hour, pending ones after a day, and issued ones whose
// certificate has expired.
type Cleaner struct {
	client   kubernetes.Interface
	csrs     certlisters.CertificateSigningRequestLister
	synced   cache.InformerSynced
	now      func() time.Time
	interval time.Duration
	logger   *slog.Logger
}

var _ controller.Controller = (*Cleaner)(nil)

// NewCleaner returns the cleaning controller.
func NewCleaner(s *controller.Shared) (controller.Controller, error) {
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	inf := s.Informers.Certificates().V1().CertificateSigningRequests()
	return &Cleaner{
		client: s.Client, csrs: inf.Lister(), synced: inf.Informer().HasSynced,
		now: now, interval: cleanInterval, logger: logger.With("controller", "csrcleaner"),
	}, nil
}

// Run cleans every interval until ctx ends.
func (c *Cleaner) Run(ctx context.Context) error {
	c.logger.Info("starting")
	defer c.logger.Info("stopped")
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return nil
	}
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		c.clean(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// clean deletes what Stale says is of no more use.
func (c *Cleaner) clean(ctx context.Context) {
	csrs, err := c.csrs.List(labels.Everything())
	if err != nil {
		return
	}
	now := c.now()
	for _, csr := range csrs {
		why := Stale(csr, now)
		if why == "" {
			continue
		}
		uid := csr.UID
		err := c.client.CertificatesV1().CertificateSigningRequests().Delete(ctx, csr.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			c.logger.Warn("delete", "csr", csr.Name, "err", err)
			continue
		}
		c.logger.Info("deleted", "csr", csr.Name, "why", why)
	}
}

// Stale returns why csr may be deleted at now, or "".
func Stale(csr *certificatesv1.CertificateSigningRequest, now time.Time) string {
	if len(csr.Status.Certificate) > 0 {
		if cert, err := pki.ParseCert(csr.Status.Certificate); err == nil && now.After(cert.NotAfter) {
			return "its certificate has expired"
		}
	}
	for _, cond := range csr.Status.Conditions {
		since := cond.LastUpdateTime.Time
		if since.IsZero() {
			since = csr.CreationTimestamp.Time
		}
		switch cond.Type {
		case certificatesv1.CertificateApproved:
			if len(csr.Status.Certificate) > 0 && now.Sub(since) > approvedTTL {
				return fmt.Sprintf("issued more than %s ago", approvedTTL)
			}
		case certificatesv1.CertificateDenied:
			if now.Sub(since) > deniedTTL {
				return fmt.Sprintf("denied more than %s ago", deniedTTL)
			}
		case certificatesv1.CertificateFailed:
			if now.Sub(since) > deniedTTL {
				return fmt.Sprintf("failed more than %s ago", deniedTTL)
			}
		}
	}
	if !hasCondition(csr, certificatesv1.CertificateApproved) && !hasCondition(csr, certificatesv1.CertificateDenied) &&
		now.Sub(csr.CreationTimestamp.Time) > pendingTTL {
		return fmt.Sprintf("pending for more than %s", pendingTTL)
	}
	return ""
}
