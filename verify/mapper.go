package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"strings"
	"sync"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// aggregatedAccept asks for aggregated discovery (every group's versions and resources in
// one response per root, GA since Kubernetes 1.30) and takes the classic group list from a
// server without it, as kubectl does.
const aggregatedAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"

// mapper maps the kinds verify reads to their resources from the server's discovery: two
// requests (/api and /apis) on a server with aggregated discovery, and on one without, the
// two group lists plus one request per group version asked about. It is client-go's
// deferred discovery RESTMapper cut to the one question verify asks, without client-go's
// discovery package, whose kubernetes scheme registers every built-in API type at start-up
// in every command of the binary. Safe for concurrent use; a mapper lives for one run.
type mapper struct {
	ctx    context.Context
	client rest.Interface
	// accept is the media types asked of the discovery roots: aggregatedAccept, or in
	// tests plain JSON, to read a real server the way one without aggregation answers.
	accept string

	once   sync.Once
	err    error
	groups map[string]*discoveredGroup

	// legacy is set when the server answered with classic group lists; its group
	// versions' resources are then fetched on first use, under mu.
	legacy bool
	mu     sync.Mutex
}

// discoveredGroup is one API group: its versions, preferred first, and per version the
// resources by kind, or why that version could not be read.
type discoveredGroup struct {
	versions []string
	kinds    map[string]map[string]discoveredResource // version -> kind -> resource
	errs     map[string]error                         // version -> stale or unreadable
}

type discoveredResource struct {
	resource   string
	namespaced bool
}

// restClientFor is the one REST client a run uses, for the objects (the dynamic client's
// JSON configuration, every path absolute) and for discovery.
func restClientFor(cfg *rest.Config) (*rest.RESTClient, error) {
	dcfg := dynamic.ConfigFor(cfg)
	dcfg.GroupVersion, dcfg.APIPath = nil, ""
	hc, err := rest.HTTPClientFor(dcfg)
	if err != nil {
		return nil, err
	}
	return rest.UnversionedRESTClientForConfigAndClient(dcfg, hc)
}

func newMapper(ctx context.Context, client rest.Interface) *mapper {
	return &mapper{ctx: ctx, client: client, accept: aggregatedAccept}
}

// RESTMapping is the resource serving gk at the first of versions the server serves it at,
// or with no versions, at the group's preferred version first. A kind the server does not
// serve is a *meta.NoKindMatchError, so meta.IsNoMatchError tells it from a failure.
func (m *mapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	m.once.Do(m.discover)
	if m.err != nil {
		return nil, m.err
	}
	g, ok := m.groups[gk.Group]
	if !ok {
		return nil, &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: versions}
	}
	try := versions
	if len(try) == 0 {
		try = g.versions
	}
	var unreadable error
	for _, v := range try {
		kinds, err := m.resources(gk.Group, g, v)
		if err != nil {
			unreadable = err
			continue
		}
		r, ok := kinds[gk.Kind]
		if !ok {
			continue
		}
		scope := meta.RESTScopeRoot
		if r.namespaced {
			scope = meta.RESTScopeNamespace
		}
		return &meta.RESTMapping{
			Resource:         schema.GroupVersionResource{Group: gk.Group, Version: v, Resource: r.resource},
			GroupVersionKind: gk.WithVersion(v),
			Scope:            scope,
		}, nil
	}
	// A version that could not be read may serve the kind: that is a failure to say so,
	// not an answer that the cluster lacks it.
	if unreadable != nil {
		return nil, unreadable
	}
	return nil, &meta.NoKindMatchError{GroupKind: gk, SearchedVersions: versions}
}

// resources are the kinds group g serves at version v; nil with no error if it does not
// serve v.
func (m *mapper) resources(group string, g *discoveredGroup, v string) (map[string]discoveredResource, error) {
	if m.legacy {
		m.mu.Lock()
		defer m.mu.Unlock()
	}
	if err, ok := g.errs[v]; ok {
		return nil, err
	}
	if kinds, ok := g.kinds[v]; ok || !m.legacy {
		return kinds, nil
	}
	served := false
	for _, sv := range g.versions {
		served = served || sv == v
	}
	if !served {
		return nil, nil
	}
	path := "/apis/" + group + "/" + v
	if group == "" {
		path = "/api/" + v
	}
	var list metav1.APIResourceList
	if err := m.get(path, &list); err != nil {
		err = fmt.Errorf("discovering %s: %w", schema.GroupVersion{Group: group, Version: v}, err)
		g.errs[v] = err
		return nil, err
	}
	kinds := map[string]discoveredResource{}
	for _, r := range list.APIResources {
		addResource(kinds, r.Name, r.Kind, r.Namespaced)
	}
	g.kinds[v] = kinds
	return kinds, nil
}

// addResource records a resource under its kind, leaving out subresources (pods/status),
// which have their parent's kind or none; the first resource of a kind is kept.
func addResource(kinds map[string]discoveredResource, name, kind string, namespaced bool) {
	if kind == "" || name == "" || strings.Contains(name, "/") {
		return
	}
	if _, ok := kinds[kind]; !ok {
		kinds[kind] = discoveredResource{resource: name, namespaced: namespaced}
	}
}

// discover reads the two discovery roots.
func (m *mapper) discover() {
	m.groups = map[string]*discoveredGroup{}
	for _, root := range []string{"/api", "/apis"} {
		if m.err = m.discoverRoot(root); m.err != nil {
			m.err = fmt.Errorf("discovering the cluster's APIs (%s): %w", root, m.err)
			return
		}
	}
}

func (m *mapper) discoverRoot(root string) error {
	res := m.client.Get().AbsPath(root).SetHeader("Accept", m.accept).Do(m.ctx)
	raw, err := res.Raw()
	if err != nil {
		return err
	}
	var ct string
	res.ContentType(&ct)
	if isAggregated(ct) {
		var list apidiscoveryv2.APIGroupDiscoveryList
		if err := json.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("decoding aggregated discovery: %w", err)
		}
		m.addAggregated(list)
		return nil
	}
	// A server without aggregated discovery: /api lists the core group's versions, /apis
	// every other group's, each with its preferred version.
	m.legacy = true
	if root == "/api" {
		var vs metav1.APIVersions
		if err := json.Unmarshal(raw, &vs); err != nil {
			return fmt.Errorf("decoding the core API versions: %w", err)
		}
		m.groups[""] = &discoveredGroup{versions: vs.Versions, kinds: map[string]map[string]discoveredResource{}, errs: map[string]error{}}
		return nil
	}
	var gl metav1.APIGroupList
	if err := json.Unmarshal(raw, &gl); err != nil {
		return fmt.Errorf("decoding the API group list: %w", err)
	}
	for _, ag := range gl.Groups {
		g := &discoveredGroup{kinds: map[string]map[string]discoveredResource{}, errs: map[string]error{}}
		if pv := ag.PreferredVersion.Version; pv != "" {
			g.versions = append(g.versions, pv)
		}
		for _, v := range ag.Versions {
			if v.Version != ag.PreferredVersion.Version {
				g.versions = append(g.versions, v.Version)
			}
		}
		m.groups[ag.Name] = g
	}
	return nil
}

// isAggregated reports whether a discovery response's media type is the aggregated list.
func isAggregated(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json" && params["g"] == "apidiscovery.k8s.io" &&
		params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList"
}

// addAggregated records an aggregated discovery list. Versions come preferred first; a
// version whose aggregated API server is unreachable is marked stale by the server, and its
// kinds are then unknown rather than absent.
func (m *mapper) addAggregated(list apidiscoveryv2.APIGroupDiscoveryList) {
	for _, ag := range list.Items {
		g := &discoveredGroup{kinds: map[string]map[string]discoveredResource{}, errs: map[string]error{}}
		for _, av := range ag.Versions {
			g.versions = append(g.versions, av.Version)
			if av.Freshness == apidiscoveryv2.DiscoveryFreshnessStale {
				g.errs[av.Version] = fmt.Errorf("the cluster's discovery of %s is stale (is its API server down?)", schema.GroupVersion{Group: ag.Name, Version: av.Version})
				continue
			}
			kinds := map[string]discoveredResource{}
			for _, r := range av.Resources {
				if r.ResponseKind == nil {
					continue
				}
				addResource(kinds, r.Resource, r.ResponseKind.Kind, r.Scope == apidiscoveryv2.ScopeNamespace)
			}
			g.kinds[av.Version] = kinds
		}
		m.groups[ag.Name] = g
	}
}

func (m *mapper) get(path string, into any) error {
	raw, err := m.client.Get().AbsPath(path).SetHeader("Accept", "application/json").Do(m.ctx).Raw()
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}
