package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// continueToken is the content of a continue token, in the format Kubernetes
// uses: the revision the list was read at and the key to resume from,
// relative to the list's prefix.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

const continueVersion = "meta.k8s.io/v1"

// EncodeContinue makes the token that resumes a list of prefix at revision
// rev from key next (the first key not yet returned).
func EncodeContinue(next, prefix string, rev int64) (string, error) {
	if !strings.HasPrefix(next, prefix) {
		return "", fmt.Errorf("key %q is not under %q", next, prefix)
	}
	out, err := json.Marshal(continueToken{APIVersion: continueVersion, ResourceVersion: rev, StartKey: next[len(prefix):]})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// DecodeContinue returns the key to resume a list of prefix from and the
// revision the list was read at (-1: the latest).
func DecodeContinue(token, prefix string) (next string, rev int64, err error) {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrInvalidContinue, err)
	}
	var c continueToken
	if err := json.Unmarshal(data, &c); err != nil {
		return "", 0, fmt.Errorf("%w: %v", ErrInvalidContinue, err)
	}
	if c.APIVersion != continueVersion {
		return "", 0, fmt.Errorf("%w: unknown version %q", ErrInvalidContinue, c.APIVersion)
	}
	// -1 means "at the latest revision": the token a 410 offers to go on
	// with an inconsistent list.
	if c.ResourceVersion == 0 || c.ResourceVersion < -1 {
		return "", 0, fmt.Errorf("%w: incorrect encoded start resourceVersion", ErrInvalidContinue)
	}
	if c.StartKey == "" {
		return "", 0, fmt.Errorf("%w: no start key", ErrInvalidContinue)
	}
	// The start key must stay below prefix: no "..", no absolute paths.
	clean := path.Clean("/" + strings.TrimSuffix(c.StartKey, "\x00"))
	if strings.Contains(c.StartKey, "..") || clean == "/" {
		return "", 0, fmt.Errorf("%w: bad start key", ErrInvalidContinue)
	}
	return prefix + c.StartKey, c.ResourceVersion, nil
}
