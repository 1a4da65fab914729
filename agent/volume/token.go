package volume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// As the kubelet's token manager: a token is renewed once 80% of its
// lifetime has passed, or once it is 24 hours old, each moment brought
// forward by a random jitter of up to 10 seconds so that pods started
// together do not renew together.
const (
	tokenMaxTTL    = 24 * time.Hour
	tokenMaxJitter = 10 * time.Second
)

// tokenCache holds the service account tokens of projected volumes, one
// per (namespace, service account, audiences, expiration, pod), and
// renews them when due.
type tokenCache struct {
	client kubernetes.Interface
	now    func() time.Time
	jitter func() time.Duration
	log    *slog.Logger

	mu     sync.Mutex
	tokens map[string]*cachedToken
}

type cachedToken struct {
	tr      *authenticationv1.TokenRequest
	fetched time.Time
	pod     types.UID
}

func newTokenCache(client kubernetes.Interface, now func() time.Time, log *slog.Logger) *tokenCache {
	return &tokenCache{
		client: client,
		now:    now,
		log:    log,
		jitter: func() time.Duration { return time.Duration(rand.Int64N(int64(tokenMaxJitter))) },
		tokens: map[string]*cachedToken{},
	}
}

func tokenKey(ns, sa string, tr *authenticationv1.TokenRequest) string {
	exp := int64(-1)
	if tr.Spec.ExpirationSeconds != nil {
		exp = *tr.Spec.ExpirationSeconds
	}
	var uid types.UID
	if tr.Spec.BoundObjectRef != nil {
		uid = tr.Spec.BoundObjectRef.UID
	}
	return fmt.Sprintf("%q/%q/%q/%d/%s", ns, sa, tr.Spec.Audiences, exp, uid)
}

// get returns a valid token for the request, from the cache unless it is
// due for renewal. If renewal fails, a token that has not expired yet is
// still returned (and renewal retried on the next call).
func (c *tokenCache) get(ctx context.Context, ns, sa string, tr *authenticationv1.TokenRequest) (string, error) {
	key := tokenKey(ns, sa, tr)
	c.mu.Lock()
	cur := c.tokens[key]
	c.mu.Unlock()
	now := c.now()
	if cur != nil && !c.requiresRefresh(cur, now) {
		return cur.tr.Status.Token, nil
	}
	resp, err := c.client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, tr.DeepCopy(), metav1.CreateOptions{})
	if err == nil && resp.Status.Token == "" {
		err = errors.New("the server returned an empty token")
	}
	if err != nil {
		switch {
		case cur == nil:
			return "", fmt.Errorf("failed to fetch token: %w", err)
		case !now.Before(expiry(cur)):
			return "", fmt.Errorf("token for service account %s/%s expired and refresh failed: %w", ns, sa, err)
		default:
			c.log.Warn("could not renew service account token", "namespace", ns, "serviceAccount", sa, "err", err)
			return cur.tr.Status.Token, nil
		}
	}
	var pod types.UID
	if tr.Spec.BoundObjectRef != nil {
		pod = tr.Spec.BoundObjectRef.UID
	}
	c.mu.Lock()
	c.tokens[key] = &cachedToken{tr: resp, fetched: now, pod: pod}
	c.mu.Unlock()
	return resp.Status.Token, nil
}

// lifetime is the token's validity: the expiration the server granted, or
// (if it did not say) the time from fetching to expiry.
func lifetime(t *cachedToken) time.Duration {
	if s := t.tr.Spec.ExpirationSeconds; s != nil && *s > 0 {
		return time.Duration(*s) * time.Second
	}
	if exp := t.tr.Status.ExpirationTimestamp.Time; !exp.IsZero() {
		return exp.Sub(t.fetched)
	}
	return time.Hour
}

func expiry(t *cachedToken) time.Time {
	if exp := t.tr.Status.ExpirationTimestamp.Time; !exp.IsZero() {
		return exp
	}
	return t.fetched.Add(lifetime(t))
}

// requiresRefresh: 80% of the lifetime passed, or 24 hours since issue.
func (c *tokenCache) requiresRefresh(t *cachedToken, now time.Time) bool {
	exp, life := expiry(t), lifetime(t)
	issued := exp.Add(-life)
	jitter := c.jitter()
	if now.After(issued.Add(tokenMaxTTL - jitter)) {
		return true
	}
	return now.After(exp.Add(-life*20/100 - jitter))
}

// forget drops the tokens bound to a pod.
func (c *tokenCache) forget(pod types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, t := range c.tokens {
		if t.pod == pod {
			delete(c.tokens, k)
		}
	}
}
