package profile

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Default fills every unset field with its documented default. It is idempotent.
func (p *Profile) Default() {
	s := &p.Spec
	if s.Enforcement == "" {
		s.Enforcement = Enforce
	}
	if s.Namespaces.Exclude == nil {
		s.Namespaces.Exclude = slices.Clone(DefaultExclude)
	}
	if len(s.Network.DefaultDeny) == 0 {
		s.Network.DefaultDeny = []PolicyType{Ingress, Egress}
	}
	if s.Network.AllowDNS == nil {
		t := true
		s.Network.AllowDNS = &t
	}
	if s.Network.DNSNamespace == "" {
		s.Network.DNSNamespace = "kube-system"
	}
	if s.Mesh.Provider == "" {
		s.Mesh.Provider = MeshNone
	}
	if s.Mesh.Provider == MeshIstio {
		if s.Mesh.MTLS == "" {
			s.Mesh.MTLS = MTLSStrict
		}
		if s.Mesh.RootNamespace == "" {
			s.Mesh.RootNamespace = "istio-system"
		}
	}
	if s.TLS.RequireIngressTLS == nil {
		t := true
		s.TLS.RequireIngressTLS = &t
	}
	for i := range s.TLS.Issuers {
		is := &s.TLS.Issuers[i]
		if is.ACME != nil && is.ACME.PrivateKeySecretName == "" {
			is.ACME.PrivateKeySecretName = is.Name + "-account-key"
		}
		if is.Vault != nil && is.Vault.MountPath == "" {
			is.Vault.MountPath = "/v1/auth/kubernetes"
		}
		if is.SelfSigned != nil && is.SelfSigned.CommonName == "" {
			is.SelfSigned.CommonName = is.Name
		}
	}
	for i := range s.Exceptions {
		e := &s.Exceptions[i]
		if e.Name == "" {
			if e.Ticket != "" {
				e.Name = dnsLabelFrom(e.Ticket)
			}
			if e.Name == "" {
				e.Name = fmt.Sprintf("exception-%d", i+1)
			}
		}
	}
}

// dnsLabelFrom lower-cases s and keeps it a DNS label, so it can name a PolicyException.
func dnsLabelFrom(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// Mesh providers and modes.
const (
	MeshNone   = "none"
	MeshIstio  = "istio"
	MTLSStrict = "STRICT"
)

// ControlEnabled reports whether the control is enabled: not disabled by the profile. An
// enabled control is realised only if the profile gives it something to act on (see
// generators.Claims).
func (p *Profile) ControlEnabled(id string) bool {
	return !slices.Contains(p.Spec.Controls.Disable, id)
}

// EnforcementFor is the action of an admission control: its override, or spec.enforcement.
func (p *Profile) EnforcementFor(id string) Enforcement {
	if e, ok := p.Spec.Controls.Enforcement[id]; ok && e != "" {
		return e
	}
	if p.Spec.Enforcement == "" {
		return Enforce
	}
	return p.Spec.Enforcement
}

// Param returns a control parameter set in the profile.
func (p *Profile) Param(id, name string) (any, bool) {
	v, ok := p.Spec.Controls.Params[id][name]
	return v, ok
}

// Expired reports whether the exception no longer holds at now: it holds through the whole
// of its expiry day (UTC).
func (e Exception) Expired(now time.Time) bool {
	return !now.UTC().Before(e.Expires.AddDate(0, 0, 1))
}

// ExpiresWithin reports whether a still-valid exception expires within d of now.
func (e Exception) ExpiresWithin(now time.Time, d time.Duration) bool {
	return !e.Expired(now) && now.Add(d).After(e.Expires.Time)
}
