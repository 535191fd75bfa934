package profile

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ParamType is the type of a control parameter's value.
type ParamType string

// Parameter types, spelt as the catalogue writes them.
const (
	// ParamString is a string.
	ParamString ParamType = "string"
	// ParamInt is an integer.
	ParamInt ParamType = "int"
	// ParamBool is true or false.
	ParamBool ParamType = "bool"
	// ParamDuration is a positive Go duration written as a string, e.g. 2160h or 1h30m.
	ParamDuration ParamType = "duration"
	// ParamStringList is a list of strings, none listed twice; each element has the spec's
	// Enum and Format.
	ParamStringList ParamType = "stringList"
)

// ParamTypes lists every ParamType.
var ParamTypes = []ParamType{ParamString, ParamInt, ParamBool, ParamDuration, ParamStringList}

// ParamFormat is a syntax a string parameter, or each element of a stringList, must have.
type ParamFormat string

// Parameter formats.
const (
	// FormatLabelKey is a Kubernetes label key: an optional DNS subdomain prefix and '/',
	// then a name of at most 63 alphanumerics, '-', '_' or '.', e.g. app.kubernetes.io/name.
	FormatLabelKey ParamFormat = "labelKey"
	// FormatNamespace is a namespace name: a DNS-1123 label.
	FormatNamespace ParamFormat = "namespace"
	// FormatDNSSubdomain is a DNS-1123 subdomain, the name of most Kubernetes objects, e.g.
	// a ClusterIssuer.
	FormatDNSSubdomain ParamFormat = "dnsSubdomain"
	// FormatRBACName is the name of a Role, ClusterRole or binding: any non-empty string but
	// "." and "..", without '/' or '%' (Kubernetes' path segment names).
	FormatRBACName ParamFormat = "rbacName"
	// FormatUsername is a user name as the API server authenticates it, e.g.
	// system:serviceaccount:flux-system:kustomize-controller; a service account's name is
	// checked part by part.
	FormatUsername ParamFormat = "username"
	// FormatCapability is a Linux capability as Kubernetes and the Pod Security Standards
	// write it: upper case, without the CAP_ prefix, e.g. NET_BIND_SERVICE.
	FormatCapability ParamFormat = "capability"
	// FormatSysctl is a sysctl name written with dots, e.g. net.ipv4.tcp_syncookies.
	FormatSysctl ParamFormat = "sysctl"
	// FormatSELinuxType is an SELinux type, e.g. container_t; the empty string stands for a
	// type set to "".
	FormatSELinuxType ParamFormat = "selinuxType"
	// FormatRegistryPrefix is an image reference prefix, as in spec.images.allowedRegistries,
	// e.g. ghcr.io/acme/.
	FormatRegistryPrefix ParamFormat = "registryPrefix"
	// FormatRegexp is a non-empty RE2 regular expression, the syntax of CEL's matches().
	FormatRegexp ParamFormat = "regexp"
)

// ParamFormats lists every ParamFormat.
var ParamFormats = []ParamFormat{
	FormatLabelKey, FormatNamespace, FormatDNSSubdomain, FormatRBACName, FormatUsername,
	FormatCapability, FormatSysctl, FormatSELinuxType, FormatRegistryPrefix, FormatRegexp,
}

// Capabilities are the Linux capabilities (capabilities(7), through Linux 6.x) as a pod's
// securityContext.capabilities lists them: without the CAP_ prefix.
var Capabilities = []string{
	"AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE",
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER",
	"KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN",
	"NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP",
	"SETUID", "SYSLOG", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE",
	"SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG",
	"WAKE_ALARM",
}

// ParamSpec describes one parameter of a control: what a profile may write at
// spec.controls.params.<control id>.<Name>. Load checks each parameter a profile sets
// against LoadOptions.Params, and Schema renders the same specs for editors.
type ParamSpec struct {
	// Name is the parameter's key under its control id.
	Name string
	// Type is the type of the value.
	Type ParamType
	// Description says what the parameter tunes; the schema shows it.
	Description string
	// Default is the value a build uses when the profile sets none. The schema shows it;
	// Load does not apply it.
	Default any
	// Enum lists the values a string, or each element of a stringList, may take; empty
	// allows any value of the Format.
	Enum []string
	// Format is the syntax of a string, or of each element of a stringList; empty allows any
	// string.
	Format ParamFormat
	// Minimum and Maximum bound an int, inclusively; nil is unbounded.
	Minimum, Maximum *int64
	// MinDuration and MaxDuration bound a duration, inclusively; zero is unbounded (a
	// duration is always above zero).
	MinDuration, MaxDuration time.Duration
}

// Validate reports a malformed spec: no name, an unknown type or format, or a constraint
// that does not apply to the type.
func (s ParamSpec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Name == "" {
		bad("parameter has no name")
	}
	if !slices.Contains(ParamTypes, s.Type) {
		bad("parameter %s: unknown type %q (allowed: %s)", s.Name, s.Type, joinAny(ParamTypes))
	}
	textual := s.Type == ParamString || s.Type == ParamStringList
	if s.Format != "" && !slices.Contains(ParamFormats, s.Format) {
		bad("parameter %s: unknown format %q (allowed: %s)", s.Name, s.Format, joinAny(ParamFormats))
	}
	if (s.Format != "" || len(s.Enum) > 0) && !textual {
		bad("parameter %s: enum and format apply to string and stringList, not %s", s.Name, s.Type)
	}
	for _, e := range s.Enum {
		if msg := s.formatProblem(e); msg != "" {
			bad("parameter %s: enum value %s", s.Name, msg)
		}
	}
	if (s.Minimum != nil || s.Maximum != nil) && s.Type != ParamInt {
		bad("parameter %s: minimum and maximum apply to int, not %s", s.Name, s.Type)
	}
	if s.Minimum != nil && s.Maximum != nil && *s.Minimum > *s.Maximum {
		bad("parameter %s: minimum %d is above maximum %d", s.Name, *s.Minimum, *s.Maximum)
	}
	if (s.MinDuration != 0 || s.MaxDuration != 0) && s.Type != ParamDuration {
		bad("parameter %s: duration bounds apply to duration, not %s", s.Name, s.Type)
	}
	if s.MinDuration < 0 || s.MaxDuration < 0 || (s.MaxDuration != 0 && s.MinDuration > s.MaxDuration) {
		bad("parameter %s: duration bounds %s..%s are not positive and ordered", s.Name, s.MinDuration, s.MaxDuration)
	}
	return errors.Join(errs...)
}

// Check reports what is wrong with value as this parameter, or nil. Values are as a profile
// decodes them (string, float64, bool, []any) or as Go writes them (int, int64, []string).
func (s ParamSpec) Check(value any) error {
	var errs []error
	for _, p := range s.problems(value) {
		errs = append(errs, fmt.Errorf("%s%s: %s", s.Name, p.sub, p.msg))
	}
	return errors.Join(errs...)
}

// paramProblem is one problem with a value: sub is "" for the value itself, or the list
// index ("[2]") of the element at fault.
type paramProblem struct{ sub, msg string }

func (s ParamSpec) problems(value any) []paramProblem {
	one := func(format string, args ...any) []paramProblem {
		return []paramProblem{{msg: fmt.Sprintf(format, args...)}}
	}
	if value == nil {
		if s.Type == ParamStringList {
			return one("must not be null (expected a list of strings: write [] for none, or remove the parameter to use the default)")
		}
		return one("must not be null (expected %s; remove the parameter to use the default)", s.want())
	}
	switch s.Type {
	case ParamString:
		str, ok := value.(string)
		if !ok {
			return one("expected a string, got %s", describeValue(value))
		}
		if msg := s.stringProblem(str); msg != "" {
			return one("%s", msg)
		}
	case ParamBool:
		if _, ok := value.(bool); !ok {
			return one("expected true or false, got %s", describeValue(value))
		}
	case ParamInt:
		n, ok := asInt(value)
		if !ok {
			return one("expected an integer, got %s", describeValue(value))
		}
		if s.Minimum != nil && n < *s.Minimum {
			return one("%d is below the minimum of %d", n, *s.Minimum)
		}
		if s.Maximum != nil && n > *s.Maximum {
			return one("%d is above the maximum of %d", n, *s.Maximum)
		}
	case ParamDuration:
		str, ok := value.(string)
		if !ok {
			return one("expected %s, got %s", s.want(), describeValue(value))
		}
		d, err := time.ParseDuration(str)
		switch {
		case err != nil:
			return one("%q is not a duration (a Go duration such as 2160h or 1h30m; units h, m, s, ms, us, ns)", str)
		case d <= 0:
			return one("%q is not a positive duration", str)
		case s.MinDuration != 0 && d < s.MinDuration:
			return one("%q is below the minimum of %s", str, shortDuration(s.MinDuration))
		case s.MaxDuration != 0 && d > s.MaxDuration:
			return one("%q is above the maximum of %s", str, shortDuration(s.MaxDuration))
		}
	case ParamStringList:
		var items []any
		switch l := value.(type) {
		case []any:
			items = l
		case []string:
			for _, x := range l {
				items = append(items, x)
			}
		default:
			return one("expected a list of strings, got %s", describeValue(value))
		}
		var out []paramProblem
		seen := map[string]bool{}
		for i, x := range items {
			sub := fmt.Sprintf("[%d]", i)
			str, ok := x.(string)
			switch {
			case !ok:
				out = append(out, paramProblem{sub, fmt.Sprintf("expected a string, got %s", describeValue(x))})
			case seen[str]:
				out = append(out, paramProblem{sub, fmt.Sprintf("%q is listed twice", str)})
			default:
				if msg := s.stringProblem(str); msg != "" {
					out = append(out, paramProblem{sub, msg})
				}
			}
			if ok {
				seen[str] = true
			}
		}
		return out
	default:
		return one("has unknown parameter type %q", s.Type)
	}
	return nil
}

// want describes the expected value, for messages.
func (s ParamSpec) want() string {
	switch s.Type {
	case ParamString:
		return "a string"
	case ParamInt:
		return "an integer"
	case ParamBool:
		return "true or false"
	case ParamDuration:
		return "a duration (a Go duration such as 2160h)"
	case ParamStringList:
		return "a list of strings"
	}
	return string(s.Type)
}

// stringProblem checks a string value, or a stringList element, against Enum and Format.
func (s ParamSpec) stringProblem(str string) string {
	if len(s.Enum) > 0 && !slices.Contains(s.Enum, str) {
		if near := nearest(str, s.Enum); near != "" {
			return fmt.Sprintf("%q is not allowed (did you mean %q? allowed: %s)", str, near, strings.Join(s.Enum, ", "))
		}
		return fmt.Sprintf("%q is not allowed (allowed: %s)", str, strings.Join(s.Enum, ", "))
	}
	return s.formatProblem(str)
}

var (
	sysctlRE = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)
	// selinuxTypeRE: SELinux identifiers (letters, digits, '_', '.', '-'), or empty.
	selinuxTypeRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.-]*)?$`)
)

// sysctlMaxLength is Kubernetes' limit on a sysctl name.
const sysctlMaxLength = 253

func (s ParamSpec) formatProblem(str string) string {
	switch s.Format {
	case "":
		return ""
	case FormatLabelKey:
		if errs := validation.IsQualifiedName(str); len(errs) > 0 {
			return fmt.Sprintf("%q is not a valid label key (an optional DNS prefix and '/', then a name of at most 63 alphanumerics, '-', '_' or '.')", str)
		}
	case FormatNamespace:
		if errs := validation.IsDNS1123Label(str); len(errs) > 0 {
			return fmt.Sprintf("%q is not a valid namespace name (a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters, starting and ending alphanumeric)", str)
		}
	case FormatDNSSubdomain:
		if errs := validation.IsDNS1123Subdomain(str); len(errs) > 0 {
			return fmt.Sprintf("%q is not a valid name (a DNS-1123 subdomain: lower-case alphanumerics, '-' and '.', at most 253 characters)", str)
		}
	case FormatRBACName:
		if str == "" {
			return "is empty (a Role, ClusterRole or binding name)"
		}
		if errs := content.IsPathSegmentName(str); len(errs) > 0 {
			return fmt.Sprintf("%q is not a valid RBAC object name (%s)", str, strings.Join(errs, "; "))
		}
	case FormatUsername:
		return usernameProblem(str)
	case FormatCapability:
		return capabilityProblem(str)
	case FormatSysctl:
		switch {
		case strings.Contains(str, "*"):
			return fmt.Sprintf("%q is not a sysctl name (names are compared exactly: list each sysctl, without wildcards)", str)
		case strings.Contains(str, "/") && sysctlRE.MatchString(strings.ReplaceAll(str, "/", ".")):
			return fmt.Sprintf("%q is not a sysctl name as this list compares it (write it with dots: %q)", str, strings.ReplaceAll(str, "/", "."))
		case len(str) > sysctlMaxLength || !sysctlRE.MatchString(str):
			return fmt.Sprintf("%q is not a sysctl name (dot-separated lower-case segments, e.g. net.ipv4.tcp_syncookies)", str)
		}
	case FormatSELinuxType:
		if !selinuxTypeRE.MatchString(str) {
			return fmt.Sprintf("%q is not an SELinux type (letters, digits, '_', '.' and '-', e.g. container_t)", str)
		}
	case FormatRegistryPrefix:
		return registryPrefixProblem(str)
	case FormatRegexp:
		if str == "" {
			return "is empty (an empty pattern matches everything)"
		}
		if _, err := regexp.Compile(str); err != nil {
			return fmt.Sprintf("%q is not a regular expression (RE2 syntax): %v", str, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
	default:
		return fmt.Sprintf("has unknown format %q", s.Format)
	}
	return ""
}

const serviceAccountPrefix = "system:serviceaccount:"

func usernameProblem(str string) string {
	if strings.TrimSpace(str) == "" {
		return "is empty (a user name, e.g. system:serviceaccount:flux-system:kustomize-controller)"
	}
	if strings.TrimSpace(str) != str {
		return fmt.Sprintf("%q has leading or trailing spaces (user names are compared exactly)", str)
	}
	if rest, ok := strings.CutPrefix(str, serviceAccountPrefix); ok {
		ns, name, found := strings.Cut(rest, ":")
		if !found || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
			return fmt.Sprintf("%q is not a service account user name (system:serviceaccount:NAMESPACE:NAME)", str)
		}
	}
	return ""
}

func capabilityProblem(str string) string {
	if slices.Contains(Capabilities, str) {
		return ""
	}
	up := strings.ToUpper(str)
	switch {
	case slices.Contains(Capabilities, strings.TrimPrefix(up, "CAP_")) && strings.HasPrefix(up, "CAP_"):
		return fmt.Sprintf("%q is not a capability name (write it without the CAP_ prefix, as the Pod Security Standards do: %q)", str, strings.TrimPrefix(up, "CAP_"))
	case slices.Contains(Capabilities, up):
		return fmt.Sprintf("%q is not a capability name (capabilities are upper case: %q)", str, up)
	case up == "ALL":
		return fmt.Sprintf("%q is not a capability name (list each capability containers may add)", str)
	}
	if near := nearest(up, Capabilities); near != "" {
		return fmt.Sprintf("%q is not a capability name (did you mean %q? a Linux capability without CAP_, e.g. NET_BIND_SERVICE)", str, near)
	}
	return fmt.Sprintf("%q is not a capability name (a Linux capability without CAP_, e.g. NET_BIND_SERVICE)", str)
}

// asInt accepts the integers a profile decodes to (float64 without a fraction) and Go ints.
func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	}
	return 0, false
}

// describeValue names a decoded value's kind and value, for "expected X, got Y".
func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case int, int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		if n, ok := asInt(x); ok {
			return fmt.Sprintf("integer %d", n)
		}
		return fmt.Sprintf("number %v", x)
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

// shortDuration writes d as a Go duration without zero trailing units: 1h, not 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func joinAny[T ~string](list []T) string {
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = string(x)
	}
	return strings.Join(out, ", ")
}

// params checks the parameters a profile sets for one control against the control's specs.
func (v *validator) params(path, id string, values map[string]any) {
	if v.opts.Params == nil {
		return
	}
	if v.opts.KnownControls != nil && !v.opts.KnownControls[id] {
		return // an unknown control, reported by controlID; its parameters mean nothing
	}
	specs := v.opts.Params[id]
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	for _, name := range sortedKeys(values) {
		p := join(path, name)
		i := slices.Index(names, name)
		if i < 0 {
			switch near := nearest(name, names); {
			case len(names) == 0:
				v.atKey(p, "unknown parameter %q (control %s has no parameters)", name, id)
			case near != "":
				v.atKey(p, "unknown parameter %q (did you mean %q? see 'bulwark controls show %s')", name, near, id)
			default:
				v.atKey(p, "unknown parameter %q (allowed: %s)", name, strings.Join(names, ", "))
			}
			continue
		}
		for _, prob := range specs[i].problems(values[name]) {
			v.at(p+prob.sub, "%s", prob.msg)
		}
	}
}
