package verify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"bulwark.dev/bulwark/bundles"
	"bulwark.dev/bulwark/internal/exitcode"
)

// Labels every bundle object carries; verify selects with them.
const (
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelProfile   = "bulwark.dev/profile"
	labelVersion   = "bulwark.dev/version"
)

// NamespacedName names a GitOps object, written NAMESPACE/NAME.
type NamespacedName struct{ Namespace, Name string }

// ParseNamespacedName reads NAMESPACE/NAME.
func ParseNamespacedName(s string) (NamespacedName, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return NamespacedName{}, fmt.Errorf("%q is not NAMESPACE/NAME", s)
	}
	return NamespacedName{ns, name}, nil
}

// Options tune a verification.
type Options struct {
	// Cluster names the cluster in the report (the kubeconfig context).
	Cluster string
	// Digest is the bundle's manifest digest (sha256:...), which GitOps tools must report.
	Digest string
	// Flux names an OCIRepository and a Kustomization of the same name to check.
	Flux *NamespacedName
	// ArgoCD names an Argo CD Application to check.
	ArgoCD *NamespacedName
	// Now is the reference time for exception expiry; zero means time.Now().
	Now time.Time
	// ExpiryWarning is how close to expiry an exception is reported. Defaults to 30 days.
	ExpiryWarning time.Duration
	// PageSize bounds each LIST page. Defaults to 500.
	PageSize int64
}

// Run verifies one cluster. It returns an error only when the cluster could not be
// checked (exit 3) or the bundle is unusable (exit 2); a cluster that has not converged
// is a Report with failing findings.
func Run(ctx context.Context, cfg *rest.Config, b *bundles.Bundle, opts Options) (*Report, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.ExpiryWarning == 0 {
		opts.ExpiryWarning = 30 * 24 * time.Hour
	}
	if opts.PageSize == 0 {
		opts.PageSize = 500
	}
	counter := &callCounter{}
	cfg = rest.CopyConfig(cfg)
	cfg.WrapTransport = chain(cfg.WrapTransport, counter.wrap)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, exitcode.AsBadInput(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, exitcode.AsBadInput(err)
	}
	v := &verifier{
		ctx: ctx, dyn: dyn, b: b, opts: opts,
		mapper:   restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		controls: map[string][]string{},
		report: &Report{
			APIVersion: "bulwark.dev/v1alpha1", Kind: "VerifyReport", Cluster: opts.Cluster, CheckedAt: opts.Now.UTC().Truncate(time.Second),
			Bundle: BundleRef{Profile: b.Index.Spec.Profile, Version: b.Index.Spec.Version, Digest: opts.Digest, Framework: b.Index.Spec.Framework, Catalogue: b.Index.Spec.Catalogue},
		},
	}
	for _, c := range b.Index.Spec.Controls {
		v.controls[c.ID] = c.TSC
	}
	if err := v.run(); err != nil {
		return nil, classify(err)
	}
	v.report.Stats.APICalls, v.report.Stats.Bytes = counter.calls.Load(), counter.bytes.Load()
	v.report.finish()
	return v.report, nil
}

// classify maps client errors to exit codes and says what to do about them.
func classify(err error) error {
	var netErr net.Error
	switch {
	case apierrors.IsForbidden(err):
		return exitcode.AsEnvironment(fmt.Errorf("forbidden: %w (grant the role in examples/verify-clusterrole.yaml)", err))
	case apierrors.IsUnauthorized(err):
		return exitcode.AsEnvironment(fmt.Errorf("authentication refused: %w", err))
	case errors.As(err, &netErr), errors.Is(err, context.DeadlineExceeded), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return exitcode.AsEnvironment(fmt.Errorf("cluster unreachable: %w", err))
	}
	return exitcode.AsEnvironment(err)
}

type verifier struct {
	ctx      context.Context
	dyn      dynamic.Interface
	mapper   meta.RESTMapper
	b        *bundles.Bundle
	opts     Options
	report   *Report
	controls map[string][]string // control id -> TSC
}

func (v *verifier) add(check Check, status Status, controls []string, obj *ObjectRef, format string, args ...any) {
	f := Finding{Check: check, Status: status, Controls: controls, Object: obj, Message: fmt.Sprintf(format, args...)}
	seen := map[string]bool{}
	for _, c := range controls {
		for _, t := range v.controls[c] {
			if !seen[t] {
				seen[t] = true
				f.TSC = append(f.TSC, t)
			}
		}
	}
	sort.Strings(f.TSC)
	if f.TSC == nil {
		f.TSC = []string{}
	}
	if obj != nil {
		f.Command = kubectlGet(obj)
	}
	v.report.Findings = append(v.report.Findings, f)
}

func kubectlGet(o *ObjectRef) string {
	gv, _ := schema.ParseGroupVersion(o.APIVersion)
	resource := strings.ToLower(o.Kind)
	if gv.Group != "" {
		resource += "." + gv.Group
	}
	cmd := "kubectl get " + resource + " " + o.Name
	if o.Namespace != "" {
		cmd += " -n " + o.Namespace
	}
	return cmd + " -o yaml"
}

// enabled reports whether the bundle has the control in force.
func (v *verifier) enabled(id string) bool {
	_, ok := v.controls[id]
	return ok
}

// list reads every object of a kind (optionally label-selected) with paginated LISTs.
func (v *verifier) list(gvk schema.GroupVersionKind, selector string) ([]unstructured.Unstructured, error) {
	m, err := v.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, errNotServed{gvk}
		}
		return nil, err
	}
	var out []unstructured.Unstructured
	opts := metav1.ListOptions{LabelSelector: selector, Limit: v.opts.PageSize}
	for {
		page, err := v.dyn.Resource(m.Resource).List(v.ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.GetContinue() == "" {
			return out, nil
		}
		opts.Continue = page.GetContinue()
	}
}

type errNotServed struct{ gvk schema.GroupVersionKind }

func (e errNotServed) Error() string {
	return fmt.Sprintf("the cluster does not serve %s (is its CRD installed?)", e.gvk)
}

func key(apiVersion, kind, ns, name string) string {
	return apiVersion + "|" + kind + "|" + ns + "|" + name
}

func (v *verifier) run() error {
	spec := v.b.Index.Spec
	selector := labels.Set{labelManagedBy: "bulwark", labelProfile: spec.Profile}.String()

	// Present, matching, ready, and drift: one LIST per kind the bundle holds.
	kinds := map[schema.GroupVersionKind][]bundles.IndexObject{}
	for _, o := range spec.Objects {
		gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
		kinds[gvk] = append(kinds[gvk], o)
	}
	gvks := make([]schema.GroupVersionKind, 0, len(kinds))
	for g := range kinds {
		gvks = append(gvks, g)
	}
	sort.Slice(gvks, func(i, j int) bool { return gvks[i].String() < gvks[j].String() })
	for _, gvk := range gvks {
		live, err := v.list(gvk, selector)
		var ns errNotServed
		if errors.As(err, &ns) {
			for _, o := range kinds[gvk] {
				v.add(CheckPresent, Fail, o.Controls, ref(o), "%s %s is missing: %v", o.Kind, name(o), err)
			}
			continue
		}
		if err != nil {
			return err
		}
		v.report.Stats.Objects += len(live)
		byKey := map[string]*unstructured.Unstructured{}
		for i := range live {
			l := &live[i]
			byKey[key(l.GetAPIVersion(), l.GetKind(), l.GetNamespace(), l.GetName())] = l
		}
		want := map[string]bool{}
		for _, o := range kinds[gvk] {
			k := key(o.APIVersion, o.Kind, o.Namespace, o.Name)
			want[k] = true
			l, ok := byKey[k]
			if !ok {
				v.add(CheckPresent, Fail, o.Controls, ref(o), "%s %s is missing", o.Kind, name(o))
				continue
			}
			if err := v.matching(o, l); err != nil {
				return err
			}
			v.ready(o, l)
		}
		for k, l := range byKey {
			if !want[k] {
				ctl := strings.Split(l.GetAnnotations()["bulwark.dev/controls"], ",")
				if ctl[0] == "" {
					ctl = nil
				}
				v.add(CheckDrift, Fail, ctl, refOf(l), "%s %s carries profile %s (version %s) but is not in bundle %s: prune it or re-sync",
					l.GetKind(), nameOf(l), spec.Profile, l.GetLabels()[labelVersion], spec.Version)
			}
		}
	}
	if err := v.coverage(); err != nil {
		return err
	}
	if err := v.gitops(); err != nil {
		return err
	}
	if err := v.auditLogging(); err != nil {
		return err
	}
	v.exceptions()
	return nil
}

func ref(o bundles.IndexObject) *ObjectRef {
	return &ObjectRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

func refOf(l *unstructured.Unstructured) *ObjectRef {
	return &ObjectRef{APIVersion: l.GetAPIVersion(), Kind: l.GetKind(), Namespace: l.GetNamespace(), Name: l.GetName()}
}

func name(o bundles.IndexObject) string {
	if o.Namespace != "" {
		return o.Namespace + "/" + o.Name
	}
	return o.Name
}

func nameOf(l *unstructured.Unstructured) string {
	if l.GetNamespace() != "" {
		return l.GetNamespace() + "/" + l.GetName()
	}
	return l.GetName()
}

// matching checks desired ⊆ live: every field the bundle sets has the live value.
func (v *verifier) matching(o bundles.IndexObject, live *unstructured.Unstructured) error {
	var desired map[string]any
	if err := yaml.Unmarshal(v.b.Files[o.File], &desired); err != nil {
		return exitcode.AsBadInput(fmt.Errorf("bundle file %s: %w", o.File, err))
	}
	delete(desired, "status")
	if md, ok := desired["metadata"].(map[string]any); ok {
		// Identity fields were matched by the LIST; the rest of metadata the server owns.
		desired["metadata"] = map[string]any{"labels": md["labels"], "annotations": md["annotations"]}
	}
	if path, want, got, ok := subset(desired, live.Object, ""); !ok {
		v.add(CheckMatching, Fail, o.Controls, ref(o), "%s %s differs from the bundle at %s: bundle has %s, cluster has %s",
			o.Kind, name(o), path, short(want), short(got))
		return nil
	}
	v.add(CheckPresent, Pass, o.Controls, ref(o), "%s %s is present and matches the bundle", o.Kind, name(o))
	return nil
}

// subset reports whether want ⊆ got, or the first path where they differ.
func subset(want, got any, path string) (string, any, any, bool) {
	switch w := want.(type) {
	case nil:
		return "", nil, nil, true
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return orRoot(path), want, got, false
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if w[k] == nil {
				continue
			}
			if p, a, b, ok := subset(w[k], g[k], path+"."+k); !ok {
				return p, a, b, false
			}
		}
		return "", nil, nil, true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return orRoot(path), want, got, false
		}
		for i := range w {
			if p, a, b, ok := subset(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, a, b, false
			}
		}
		return "", nil, nil, true
	default:
		if !scalarEqual(want, got) {
			return orRoot(path), want, got, false
		}
		return "", nil, nil, true
	}
}

func orRoot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// scalarEqual compares YAML and JSON scalars, whose numbers decode to different types.
func scalarEqual(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func short(v any) string {
	if v == nil {
		return "nothing"
	}
	s := fmt.Sprintf("%v", v)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// ready checks what controllers report: Kyverno policies and cert-manager issuers.
func (v *verifier) ready(o bundles.IndexObject, live *unstructured.Unstructured) {
	controls := append(append([]string(nil), o.Controls...), "LOG-02")
	switch {
	case strings.HasPrefix(o.APIVersion, "policies.kyverno.io/") && o.Kind != "PolicyException":
		if !v.enabled("LOG-02") {
			controls = o.Controls
		}
		ready, found, _ := unstructured.NestedBool(live.Object, "status", "conditionStatus", "ready")
		switch {
		case !found:
			v.add(CheckReady, Fail, controls, ref(o), "%s %s has no status: is Kyverno running and does it serve policies.kyverno.io/v1?", o.Kind, name(o))
		case !ready:
			v.add(CheckReady, Fail, controls, ref(o), "%s %s is not ready: %s", o.Kind, name(o), conditionMessage(live))
		default:
			v.add(CheckReady, Pass, controls, ref(o), "%s %s is ready", o.Kind, name(o))
		}
	case o.APIVersion == "cert-manager.io/v1" && (o.Kind == "ClusterIssuer" || o.Kind == "Issuer"):
		if st, msg := condition(live, "Ready"); st == "True" {
			v.add(CheckReady, Pass, o.Controls, ref(o), "%s %s is Ready", o.Kind, name(o))
		} else {
			v.add(CheckReady, Fail, o.Controls, ref(o), "%s %s is not Ready (%s)", o.Kind, name(o), orUnknown(msg))
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "no Ready condition: is cert-manager running?"
	}
	return s
}

// condition returns the status and message of a status condition.
func condition(obj *unstructured.Unstructured, typ string, path ...string) (string, string) {
	if len(path) == 0 {
		path = []string{"status", "conditions"}
	}
	conds, _, _ := unstructured.NestedSlice(obj.Object, path...)
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			status, _ := m["status"].(string)
			msg, _ := m["message"].(string)
			return status, msg
		}
	}
	return "", ""
}

func conditionMessage(obj *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditionStatus", "conditions")
	var msgs []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["status"] != "True" {
			msgs = append(msgs, fmt.Sprintf("%v: %v", m["type"], m["message"]))
		}
	}
	if len(msgs) == 0 {
		return "status.conditionStatus.ready is false"
	}
	return strings.Join(msgs, "; ")
}

// exceptions fails expired exceptions and warns about those expiring soon.
func (v *verifier) exceptions() {
	for _, e := range v.b.Index.Spec.Scope.Exceptions {
		ctl := append(append([]string(nil), e.Controls...), "CHG-02")
		if !v.enabled("CHG-02") {
			ctl = e.Controls
		}
		switch {
		case e.Expired(v.opts.Now):
			v.add(CheckException, Fail, ctl, nil, "exception %s (%s) for %s in %s expired on %s: renew it in the profile or fix the workloads",
				e.Name, e.Ticket, strings.Join(e.Controls, ","), strings.Join(e.Namespaces, ","), e.Expires)
		case e.ExpiresWithin(v.opts.Now, v.opts.ExpiryWarning):
			v.add(CheckException, Warn, ctl, nil, "exception %s (%s) for %s in %s expires on %s",
				e.Name, e.Ticket, strings.Join(e.Controls, ","), strings.Join(e.Namespaces, ","), e.Expires)
		default:
			v.add(CheckException, Pass, ctl, nil, "exception %s (%s) holds until %s", e.Name, e.Ticket, e.Expires)
		}
	}
}
