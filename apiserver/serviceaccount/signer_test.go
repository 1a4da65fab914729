package serviceaccount

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// clock is a settable time for tests.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func newTestSigner(t *testing.T, cfg Config) (*Signer, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	cfg.KeyFile = filepath.Join(t.TempDir(), "sa.key")
	cfg.Now = c.Now
	s, err := NewSigner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestConfig(t *testing.T) {
	c := Config{KeyFile: "k"}
	c.Defaults()
	if c.Issuer != DefaultIssuer || !reflect.DeepEqual(c.Audiences, []string{DefaultIssuer}) || c.Now == nil {
		t.Errorf("defaults %+v", c)
	}
	for name, bad := range map[string]Config{
		"no key file":    {Issuer: "i", Audiences: []string{"i"}},
		"max too short":  {KeyFile: "k", MaxExpiration: time.Minute},
		"max too long":   {KeyFile: "k", MaxExpiration: (1<<32 + 1) * time.Second},
		"empty audience": {KeyFile: "k", Audiences: []string{""}},
	} {
		if bad.Validate() == nil {
			t.Errorf("%s: valid", name)
		}
	}
	if err := (&Config{KeyFile: "k", MaxExpiration: 2 * time.Hour}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestIssue(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", UID: "p"}}
	year := int64(ExpirationExtensionSeconds)
	for _, tc := range []struct {
		name string
		cfg  Config
		req  Request
		// wanted: reported lifetime, token lifetime (exp-iat), warnafter-iat
		wantSeconds, wantTokenSeconds, wantWarnAfter int64
		wantShortened                                bool
		wantAudiences                                []string
	}{
		{name: "defaults", req: Request{}, wantSeconds: 3600, wantTokenSeconds: 3600, wantAudiences: []string{DefaultIssuer}},
		{name: "own audiences", req: Request{Audiences: []string{"vault"}, ExpirationSeconds: 600},
			wantSeconds: 600, wantTokenSeconds: 600, wantAudiences: []string{"vault"}},
		{name: "kubelet token extended", req: Request{ExpirationSeconds: 3607, Bound: Bound{Pod: pod}},
			wantSeconds: 3607, wantTokenSeconds: year, wantWarnAfter: 3607, wantAudiences: []string{DefaultIssuer}},
		{name: "not extended without a pod", req: Request{ExpirationSeconds: 3607},
			wantSeconds: 3607, wantTokenSeconds: 3607, wantAudiences: []string{DefaultIssuer}},
		{name: "not extended for other audiences", req: Request{ExpirationSeconds: 3607, Bound: Bound{Pod: pod}, Audiences: []string{"vault"}},
			wantSeconds: 3607, wantTokenSeconds: 3607, wantAudiences: []string{"vault"}},
		{name: "not extended when turned off", cfg: Config{NoExtendExpiration: true}, req: Request{ExpirationSeconds: 3607, Bound: Bound{Pod: pod}},
			wantSeconds: 3607, wantTokenSeconds: 3607, wantAudiences: []string{DefaultIssuer}},
		{name: "shortened to the maximum", cfg: Config{MaxExpiration: 2 * time.Hour}, req: Request{ExpirationSeconds: 86400},
			wantSeconds: 7200, wantTokenSeconds: 7200, wantShortened: true, wantAudiences: []string{DefaultIssuer}},
		{name: "shortened below 3607, so not extended", cfg: Config{MaxExpiration: time.Hour}, req: Request{ExpirationSeconds: 3607, Bound: Bound{Pod: pod}},
			wantSeconds: 3600, wantTokenSeconds: 3600, wantShortened: true, wantAudiences: []string{DefaultIssuer}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newTestSigner(t, tc.cfg)
			tc.req.ServiceAccount = testSA()
			got, err := s.Issue(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			iat := clk.t.Unix()
			if got.ExpirationSeconds != tc.wantSeconds || got.Shortened != tc.wantShortened ||
				!reflect.DeepEqual(got.Audiences, tc.wantAudiences) || got.IssuedAt.Unix() != iat ||
				got.ExpirationTimestamp.Unix() != iat+tc.wantSeconds {
				t.Errorf("issued %+v", got)
			}
			c, err := s.Verify(got.Token)
			if tc.wantAudiences[0] != DefaultIssuer {
				if err == nil {
					t.Error("token for other audiences authenticates to the API server")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Expiry-c.IssuedAt != tc.wantTokenSeconds || c.Issuer != DefaultIssuer {
				t.Errorf("token lifetime %d, want %d", c.Expiry-c.IssuedAt, tc.wantTokenSeconds)
			}
			var warn int64
			if c.Kubernetes.WarnAfter != 0 {
				warn = c.Kubernetes.WarnAfter - iat
			}
			if warn != tc.wantWarnAfter {
				t.Errorf("warnafter %d s after issue, want %d", warn, tc.wantWarnAfter)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	s, clk := newTestSigner(t, Config{Audiences: []string{"api", "api2"}})
	other, _ := newTestSigner(t, Config{Audiences: []string{"api"}})
	otherIssuer, err := newSigner(Config{Issuer: "https://elsewhere", Audiences: []string{"api"}, Now: clk.Now}, s.key)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(s *Signer, mod func(*Claims)) string {
		c := NewClaims(testSA(), Bound{}, clk.t, 3600, 0, []string{"api2"})
		if mod != nil {
			mod(c)
		}
		tok, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name    string
		token   string
		advance time.Duration
		wantErr string
	}{
		{name: "valid", token: issue(s, nil)},
		{name: "expired within leeway", token: issue(s, nil), advance: time.Hour + 59*time.Second},
		{name: "expired", token: issue(s, nil), advance: time.Hour + 61*time.Second, wantErr: "expired"},
		{name: "not yet valid", token: issue(s, func(c *Claims) { c.NotBefore += 120 }), wantErr: "not valid yet"},
		{name: "issued in the future", token: issue(s, func(c *Claims) { c.IssuedAt += 120 }), wantErr: "future"},
		{name: "no expiry", token: issue(s, func(c *Claims) { c.Expiry = 0 }), wantErr: "no expiry"},
		{name: "other audience", token: issue(s, func(c *Claims) { c.Audience = Audience{"vault"} }), wantErr: "audiences"},
		{name: "no audience", token: issue(s, func(c *Claims) { c.Audience = nil }), wantErr: "audiences"},
		{name: "other key", token: issue(other, nil), wantErr: "signature"},
		{name: "other issuer, same key", token: issue(otherIssuer, nil), wantErr: "issuer"},
		{name: "no private claims", token: issue(s, func(c *Claims) { c.Kubernetes = nil }), wantErr: "no service account"},
		{name: "subject differs", token: issue(s, func(c *Claims) { c.Subject = "system:serviceaccount:kube-system:admin" }), wantErr: "subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := clk.t
			defer func() { clk.t = start }()
			clk.t = clk.t.Add(tc.advance)
			_, err := s.Verify(tc.token)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one with %q", err, tc.wantErr)
			}
		})
	}
}
