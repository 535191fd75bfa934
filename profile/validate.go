package profile

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Frameworks are the compliance frameworks with a control catalogue.
var Frameworks = []string{"soc2"}

type validator struct {
	*decoder
	opts LoadOptions
}

// at reports a problem at the position of path, or of its nearest parent present in the
// file when the value was defaulted.
func (v *validator) at(path, format string, args ...any) {
	if v.suppressed(path) {
		return
	}
	p := path
	for {
		if pos, ok := v.pos[p]; ok {
			v.errs = append(v.errs, &FieldError{File: v.file, Line: pos.line, Col: pos.col, Path: path, Msg: fmt.Sprintf(format, args...)})
			return
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			v.errs = append(v.errs, &FieldError{File: v.file, Line: 1, Col: 1, Path: path, Msg: fmt.Sprintf(format, args...)})
			return
		}
		p = p[:i]
	}
}

// suppressed reports whether path, a parent or a child of it was already reported as
// malformed: a dropped value must not also be reported as missing.
func (v *validator) suppressed(path string) bool {
	for f := range v.failed {
		if f == path || strings.HasPrefix(path, f+".") || strings.HasPrefix(path, f+"[") ||
			strings.HasPrefix(f, path+".") || strings.HasPrefix(f, path+"[") {
			return true
		}
	}
	return false
}

func (v *validator) validate(p *Profile) {
	if p.APIVersion != APIVersion {
		v.at("apiVersion", "%s (allowed: %s)", got(p.APIVersion), APIVersion)
	}
	if p.Kind != Kind {
		v.at("kind", "%s (allowed: %s)", got(p.Kind), Kind)
	}
	if p.Metadata.Name == "" {
		v.at("metadata.name", "is required (a DNS-1123 label, e.g. payments-soc2)")
	} else {
		v.dnsLabel("metadata.name", p.Metadata.Name)
	}
	s := &p.Spec
	switch {
	case s.Framework == "":
		v.at("spec.framework", "is required (allowed: %s)", strings.Join(Frameworks, ", "))
	case !contains(Frameworks, s.Framework):
		v.at("spec.framework", "unknown framework %q (allowed: %s)", s.Framework, strings.Join(Frameworks, ", "))
	}
	v.enforcement("spec.enforcement", s.Enforcement)
	v.namespaces(&s.Namespaces)
	v.images(&s.Images)
	v.network(&s.Network)
	v.mesh(&s.Mesh)
	v.tls(&s.TLS)
	v.controls(&s.Controls)
	v.exceptions(s)
}

func got(s string) string {
	if s == "" {
		return "is required"
	}
	return fmt.Sprintf("%q is not supported", s)
}

func (v *validator) enforcement(path string, e Enforcement) {
	if e != Enforce && e != Audit {
		v.at(path, "%q is not an enforcement mode (allowed: Enforce, Audit)", e)
	}
}

func (v *validator) dnsLabel(path, s string) bool {
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		v.at(path, "%q is not a valid name (a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters, starting and ending alphanumeric)", s)
		return false
	}
	return true
}

func (v *validator) namespaceList(path string, names []string) map[string]bool {
	set := map[string]bool{}
	for i, n := range names {
		p := fmt.Sprintf("%s[%d]", path, i)
		if !v.dnsLabel(p, n) {
			continue
		}
		if set[n] {
			v.at(p, "namespace %q is listed twice", n)
		}
		set[n] = true
	}
	return set
}

func (v *validator) namespaces(ns *Namespaces) {
	const path = "spec.namespaces"
	if ns.Selector == nil && len(ns.Include) == 0 {
		v.at(path, "selects no namespace (set selector, include, or both)")
	}
	include := v.namespaceList(path+".include", ns.Include)
	exclude := v.namespaceList(path+".exclude", ns.Exclude)
	for i, n := range ns.Include {
		if exclude[n] {
			v.at(fmt.Sprintf("%s.include[%d]", path, i), "namespace %q is both included and excluded (remove it from one list)", n)
		}
	}
	sens := v.namespaceList(path+".sensitiveInclude", ns.SensitiveInclude)
	for i, n := range ns.SensitiveInclude {
		if sens[n] && !include[n] {
			v.at(fmt.Sprintf("%s.sensitiveInclude[%d]", path, i), "namespace %q is not in spec.namespaces.include (the sensitive tier is a subset of the scope)", n)
		}
	}
	v.selector(path+".selector", ns.Selector)
	v.selector(path+".sensitive", ns.Sensitive)
}

func (v *validator) selector(path string, sel *metav1.LabelSelector) {
	if sel == nil {
		return
	}
	if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
		v.at(path, "an empty selector matches every namespace (give matchLabels or matchExpressions, or remove it)")
	}
	keys := make([]string, 0, len(sel.MatchLabels))
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := join(path+".matchLabels", k)
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			v.atKey(p, "%q is not a valid label key (an optional DNS prefix and '/', then a name of at most 63 alphanumerics, '-', '_' or '.')", k)
		}
		if errs := validation.IsValidLabelValue(sel.MatchLabels[k]); len(errs) > 0 {
			v.at(p, "%q is not a valid label value (%s)", sel.MatchLabels[k], strings.Join(errs, "; "))
		}
	}
	for i, r := range sel.MatchExpressions {
		p := fmt.Sprintf("%s.matchExpressions[%d]", path, i)
		v.labelKey(p+".key", r.Key)
		switch r.Operator {
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			if len(r.Values) == 0 {
				v.at(p+".values", "operator %s needs at least one value", r.Operator)
			}
		case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				v.at(p+".values", "operator %s takes no values", r.Operator)
			}
		default:
			v.at(p+".operator", "%q is not a selector operator (allowed: In, NotIn, Exists, DoesNotExist)", r.Operator)
		}
		for j, val := range r.Values {
			if errs := validation.IsValidLabelValue(val); len(errs) > 0 {
				v.at(fmt.Sprintf("%s.values[%d]", p, j), "%q is not a valid label value (%s)", val, strings.Join(errs, "; "))
			}
		}
	}
}

func (v *validator) labelKey(path, k string) {
	if errs := validation.IsQualifiedName(k); len(errs) > 0 {
		v.at(path, "%q is not a valid label key (an optional DNS prefix and '/', then a name of at most 63 alphanumerics, '-', '_' or '.')", k)
	}
}

// registryPrefixRE: host[:port][/path...][/], lower-case, no scheme, tag or digest.
var registryPrefixRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*/?$`)

// registryPrefixProblem says what is wrong with an image reference prefix, or "".
func registryPrefixProblem(r string) string {
	switch {
	case strings.TrimSpace(r) == "":
		return "is empty (a registry prefix such as ghcr.io/acme/)"
	case strings.Contains(r, "://"):
		return fmt.Sprintf("%q has a URL scheme (write the image prefix without it, e.g. ghcr.io/acme/)", r)
	case strings.ContainsAny(r, "@") || !registryPrefixRE.MatchString(r):
		return fmt.Sprintf("%q is not a registry prefix (host[:port][/path]/, lower-case, no tag or digest, e.g. ghcr.io/acme/)", r)
	case !strings.Contains(r, "/") && !strings.Contains(r, "."):
		return fmt.Sprintf("%q has no registry host (e.g. docker.io/library/ or ghcr.io/acme/)", r)
	}
	return ""
}

func (v *validator) images(im *Images) {
	seen := map[string]bool{}
	for i, r := range im.AllowedRegistries {
		p := fmt.Sprintf("spec.images.allowedRegistries[%d]", i)
		if msg := registryPrefixProblem(r); msg != "" {
			v.at(p, "%s", msg)
		} else if seen[r] {
			v.at(p, "%q is listed twice", r)
		}
		seen[r] = true
	}
	names := map[string]bool{}
	for i, k := range im.SignatureKeys {
		p := fmt.Sprintf("spec.images.signatureKeys[%d]", i)
		if k.Name == "" {
			v.at(p+".name", "is required (names the key in messages)")
		} else if names[k.Name] {
			v.at(p+".name", "key name %q is used twice", k.Name)
		} else {
			v.dnsLabel(p+".name", k.Name)
		}
		names[k.Name] = true
		if err := checkPublicKey(k.PublicKey); err != nil {
			v.at(p+".publicKey", "%v (a PEM \"PUBLIC KEY\" block, e.g. from cosign generate-key-pair or bulwark keys generate)", err)
		}
	}
}

func checkPublicKey(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("is required")
	}
	block, rest := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil {
		return fmt.Errorf("is not PEM")
	}
	if block.Type != "PUBLIC KEY" {
		return fmt.Errorf("is a PEM %q block, not a public key", block.Type)
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return fmt.Errorf("holds more than one PEM block")
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		return fmt.Errorf("is not a valid public key: %v", err)
	}
	return nil
}

func (v *validator) network(n *Network) {
	seen := map[PolicyType]bool{}
	for i, t := range n.DefaultDeny {
		p := fmt.Sprintf("spec.network.defaultDeny[%d]", i)
		if t != Ingress && t != Egress {
			v.at(p, "%q is not a policy type (allowed: Ingress, Egress)", t)
		} else if seen[t] {
			v.at(p, "%s is listed twice", t)
		}
		seen[t] = true
	}
	v.namespaceList("spec.network.ingressNamespaces", n.IngressNamespaces)
	v.dnsLabel("spec.network.dnsNamespace", n.DNSNamespace)
}

func (v *validator) mesh(m *Mesh) {
	switch m.Provider {
	case MeshNone:
		if m.MTLS != "" || m.RootNamespace != "" {
			v.at("spec.mesh.provider", "mesh settings are given but no provider (allowed: istio)")
		}
	case MeshIstio:
		if m.MTLS != MTLSStrict {
			v.at("spec.mesh.mtls", "%q does not encrypt all traffic (allowed: STRICT; disable TLS-01 to opt out)", m.MTLS)
		}
		v.dnsLabel("spec.mesh.rootNamespace", m.RootNamespace)
	default:
		v.at("spec.mesh.provider", "%q is not a supported mesh (allowed: istio, none)", m.Provider)
	}
}

func (v *validator) tls(t *TLS) {
	names := map[string]bool{}
	for i, is := range t.Issuers {
		p := fmt.Sprintf("spec.tls.issuers[%d]", i)
		if is.Name == "" {
			v.at(p+".name", "is required (the ClusterIssuer name)")
		} else if errs := validation.IsDNS1123Subdomain(is.Name); len(errs) > 0 {
			v.at(p+".name", "%q is not a valid ClusterIssuer name (a DNS-1123 subdomain)", is.Name)
		} else if names[is.Name] {
			v.at(p+".name", "issuer name %q is used twice", is.Name)
		}
		names[is.Name] = true
		kinds := 0
		for _, set := range []bool{is.ACME != nil, is.CA != nil, is.Vault != nil, is.SelfSigned != nil} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			v.at(p, "sets %d issuer kinds (set exactly one of: acme, ca, vault, selfSigned)", kinds)
		}
		if a := is.ACME; a != nil {
			v.httpsURL(p+".acme.server", a.Server, "the ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory")
			if a.Email == "" {
				v.at(p+".acme.email", "is required (the ACME account contact)")
			} else if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email || !strings.Contains(a.Email[strings.LastIndex(a.Email, "@")+1:], ".") {
				v.at(p+".acme.email", "%q is not an email address (e.g. security@example.com)", a.Email)
			}
		}
		if c := is.CA; c != nil {
			if c.SecretName == "" {
				v.at(p+".ca.secretName", "is required (the Secret holding tls.crt and tls.key)")
			} else if errs := validation.IsDNS1123Subdomain(c.SecretName); len(errs) > 0 {
				v.at(p+".ca.secretName", "%q is not a valid Secret name", c.SecretName)
			}
		}
		if vt := is.Vault; vt != nil {
			v.httpsURL(p+".vault.server", vt.Server, "Vault's https URL")
			for _, fv := range [][2]string{{"path", vt.Path}, {"role", vt.Role}, {"serviceAccount", vt.ServiceAccount}} {
				field, val := fv[0], fv[1]
				if val == "" {
					v.at(p+".vault."+field, "is required")
				}
			}
		}
	}
}

func (v *validator) httpsURL(path, s, what string) {
	u, err := url.Parse(s)
	switch {
	case s == "":
		v.at(path, "is required (%s)", what)
	case err != nil || u.Host == "":
		v.at(path, "%q is not a URL (%s)", s, what)
	case u.Scheme != "https":
		v.at(path, "%q is not https (certificates and credentials must not travel in clear text; %s)", s, what)
	}
}

// atKey reports a problem with a mapping key at the key's position.
func (v *validator) atKey(path, format string, args ...any) {
	if pos, ok := v.keyPos[path]; ok && !v.suppressed(path) {
		v.errs = append(v.errs, &FieldError{File: v.file, Line: pos.line, Col: pos.col, Path: path, Msg: fmt.Sprintf(format, args...)})
		return
	}
	v.at(path, format, args...)
}

func (v *validator) controlID(path, id string) {
	if v.opts.KnownControls == nil || v.opts.KnownControls[id] {
		return
	}
	ids := make([]string, 0, len(v.opts.KnownControls))
	for k := range v.opts.KnownControls {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	msg := fmt.Sprintf("unknown control %q", id)
	if s := nearest(id, ids); s != "" {
		msg += fmt.Sprintf(" (did you mean %q? see 'bulwark controls list')", s)
	} else {
		msg += " (see 'bulwark controls list')"
	}
	v.atKey(path, "%s", msg)
}

func (v *validator) controls(c *Controls) {
	seen := map[string]bool{}
	for i, id := range c.Disable {
		p := fmt.Sprintf("spec.controls.disable[%d]", i)
		v.controlID(p, id)
		if seen[id] {
			v.at(p, "control %s is listed twice", id)
		}
		seen[id] = true
	}
	for _, id := range sortedKeys(c.Params) {
		p := join("spec.controls.params", id)
		v.controlID(p, id)
		v.params(p, id, c.Params[id])
	}
	for _, id := range sortedKeys(c.Enforcement) {
		p := join("spec.controls.enforcement", id)
		v.controlID(p, id)
		v.enforcement(p, c.Enforcement[id])
	}
}

func (v *validator) exceptions(s *Spec) {
	names := map[string]bool{}
	for i, e := range s.Exceptions {
		p := fmt.Sprintf("spec.exceptions[%d]", i)
		if len(e.Controls) == 0 {
			v.at(p+".controls", "is required (the control ids waived)")
		}
		for j, id := range e.Controls {
			v.controlID(fmt.Sprintf("%s.controls[%d]", p, j), id)
		}
		if len(e.Namespaces) == 0 {
			v.at(p+".namespaces", "is required (the namespaces the waiver applies to)")
		}
		v.namespaceList(p+".namespaces", e.Namespaces)
		if strings.TrimSpace(e.Reason) == "" {
			v.at(p+".reason", "is required (why the waiver was granted, for the auditor)")
		}
		if names[e.Name] {
			v.at(p+".name", "exception name %q is used twice", e.Name)
		} else {
			v.dnsLabel(p+".name", e.Name)
		}
		names[e.Name] = true
		switch {
		case e.Expires.IsZero():
			if _, given := v.pos[p+".expires"]; !given {
				v.at(p+".expires", "is required (YYYY-MM-DD: every exception is time-bound)")
			}
		case e.Expired(v.opts.Now):
			v.at(p+".expires", "exception %q expired on %s (renew it with a new date, or remove it)", e.Name, e.Expires)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
