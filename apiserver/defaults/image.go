package defaults

import (
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// PullPolicy returns the image pull policy Kubernetes defaults to for an
// image reference: Always when the tag is "latest" or when there is neither a
// tag nor a digest, IfNotPresent otherwise (also for references that do not
// parse, as Kubernetes does).
func PullPolicy(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// The grammar of a container image reference, as the distribution
// reference library (used by Kubernetes through ParseNormalizedNamed) has it.
const (
	refAlnum     = `[a-z0-9]+`
	refSeparator = `(?:[._]|__|[-]+)`
	refPathComp  = refAlnum + `(?:` + refSeparator + refAlnum + `)*`
	refDomainC   = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	refIPv6      = `\[(?:[a-fA-F0-9:]+)\]`
	refHost      = `(?:` + refDomainC + `(?:\.` + refDomainC + `)*|` + refIPv6 + `)`
	refDomain    = refHost + `(?::[0-9]+)?`
	refTag       = `[\w][\w.-]{0,127}`
	refDigest    = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
	refName      = `(?:` + refDomain + `/)?` + refPathComp + `(?:/` + refPathComp + `)*`
	maxNameLen   = 255
)

// imageReference matches name, optional tag and optional digest.
var imageReference = regexp.MustCompile(`^(` + refName + `)(?::(` + refTag + `))?(?:@(` + refDigest + `))?$`)

// hex64 is an image ID, which is not a valid repository name.
var hex64 = regexp.MustCompile(`^[a-f0-9]{64}$`)

// imageTag returns the tag of an image reference as Kubernetes reads it:
// "latest" when neither tag nor digest is given, "" when the reference does
// not parse or has only a digest.
func imageTag(image string) string {
	m := imageReference.FindStringSubmatch(image)
	if m == nil || len(m[1]) > maxNameLen || hex64.MatchString(image) {
		return ""
	}
	name, tag, digest := m[1], m[2], m[3]
	// The first path component is a domain only if it looks like one; a
	// remote name (the rest) must be lower case either way.
	remote := name
	if i := strings.IndexByte(name, '/'); i >= 0 {
		first := name[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			remote = name[i+1:]
		}
	}
	if strings.ToLower(remote) != remote {
		return ""
	}
	if tag == "" && digest == "" {
		return "latest"
	}
	return tag
}
