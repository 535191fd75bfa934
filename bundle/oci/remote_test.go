package oci

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"bulwark.dev/bulwark/bundle/internal/bundletest"
	"bulwark.dev/bulwark/internal/exitcode"
)

func TestReferenceParsing(t *testing.T) {
	cases := []struct {
		ref      string
		insecure bool // option
		want     string
		http     bool
		code     int
	}{
		{ref: "oci://127.0.0.1:5000/a/b:1.0.0", want: "127.0.0.1:5000/a/b:1.0.0", http: true},
		{ref: "127.0.0.1:5000/a/b:1.0.0", want: "127.0.0.1:5000/a/b:1.0.0", http: true},
		{ref: "localhost:5000/a/b:1.0.0", want: "localhost:5000/a/b:1.0.0", http: true},
		{ref: "oci://[::1]:5000/a/b:1.0.0", want: "[::1]:5000/a/b:1.0.0", http: true},
		{ref: "127.0.0.2:5000/a/b@sha256:" + strings.Repeat("a", 64), want: "127.0.0.2:5000/a/b@sha256:" + strings.Repeat("a", 64), http: true},
		{ref: "ghcr.io/acme/p:1.0.0", want: "ghcr.io/acme/p:1.0.0"},
		{ref: "oci://ghcr.io/acme/p:1.0.0", want: "ghcr.io/acme/p:1.0.0"},
		{ref: "oci://registry.internal:5000/p:1.0.0", insecure: true, want: "registry.internal:5000/p:1.0.0", http: true},
		{ref: "oci://localhost.evil.example/p:1.0.0", want: "localhost.evil.example/p:1.0.0"},
		{ref: "oci://UPPER/Case:tag", code: exitcode.BadInput},
		{ref: "oci://ghcr.io/acme/p:bad tag", code: exitcode.BadInput},
		{ref: "oci://ci:hunter2@ghcr.io/acme/p:1.0.0", code: exitcode.BadInput},
		{ref: "ci:hunter2@ghcr.io/acme/p:1.0.0", code: exitcode.BadInput},
	}
	for _, tc := range cases {
		t.Run(tc.ref, func(t *testing.T) {
			r, err := client(t, WithInsecure(tc.insecure)).ParseReference(tc.ref)
			if tc.code != 0 {
				if exitcode.Of(err, 0) != tc.code {
					t.Fatalf("error %v, want exit %d", err, tc.code)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Name() != tc.want {
				t.Errorf("parsed %s, want %s", r.Name(), tc.want)
			}
			if got := r.Context().Scheme() == "http"; got != tc.http {
				t.Errorf("plain HTTP = %v, want %v", got, tc.http)
			}
		})
	}
}

func TestPushNeedsATag(t *testing.T) {
	b := bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(1, "x"))
	for _, ref := range []string{
		"127.0.0.1:1/p",
		"oci://127.0.0.1:1/p",
		"127.0.0.1:1/p@sha256:" + strings.Repeat("a", 64),
		"oci://127.0.0.1:1/p:",
	} {
		_, err := client(t).Push(context.Background(), b, ref, PushOptions{})
		if exitcode.Of(err, 0) != exitcode.BadInput {
			t.Errorf("%s: error %v, want exit 2 before any request", ref, err)
		}
	}
	_, err := client(t).Push(context.Background(), b, "127.0.0.1:1/p:1.0.0", PushOptions{Tags: []string{"no/slash"}})
	if exitcode.Of(err, 0) != exitcode.BadInput {
		t.Errorf("bad extra tag: %v", err)
	}
}

// requestLog records the requests a registry received.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *requestLog) count(method, pathPart string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		if strings.HasPrefix(r, method+" ") && strings.Contains(r, pathPart) {
			n++
		}
	}
	return n
}

func (l *requestLog) reset() {
	l.mu.Lock()
	l.reqs = nil
	l.mu.Unlock()
}

func head(t *testing.T, ref string) v1.Hash {
	t.Helper()
	r, err := client(t).ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r)
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return desc.Digest
}

// TestPushThenRepush: the first push uploads both blobs and reports it; an unchanged
// re-push uploads none, says so, and keeps the digest; the registry's own records agree.
func TestPushThenRepush(t *testing.T) {
	var log requestLog
	host := bundletest.StartRegistry(t, log.wrap)
	ctx := context.Background()
	want, err := Digest(bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(5, "x")), PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	d, err := client(t, WithProgress(&out)).Push(ctx, bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(5, "x")), "oci://"+host+"/p:1.0.0", PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.DigestStr() != want.String() || d.Context().String() != host+"/p" {
		t.Fatalf("pushed %s, want %s/p@%s", d, host, want)
	}
	if got := log.count("POST", "/blobs/uploads/"); got != 2 {
		t.Errorf("first push opened %d uploads, want 2 (layer and config)", got)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	wantLines := []string{
		"pushing " + host + "/p: 1/2 blobs, ",
		"pushing " + host + "/p: 2/2 blobs, ",
		"pushing " + host + "/p: manifest " + want.String(),
		"tagged " + host + "/p: 1.0.0",
	}
	if len(lines) != len(wantLines) {
		t.Fatalf("progress:\n%s", out.String())
	}
	for i, w := range wantLines {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("progress line %q, want it to start %q", lines[i], w)
		}
	}
	if !strings.HasSuffix(lines[1], "(uploaded)") {
		t.Errorf("progress line %q should say the blob was uploaded", lines[1])
	}

	log.reset()
	out.Reset()
	d2, err := client(t, WithProgress(&out)).Push(ctx, bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(5, "x")), host+"/p:1.0.0", PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d2 != d {
		t.Errorf("re-push gave %s, first push %s", d2, d)
	}
	if n := log.count("POST", "/blobs/uploads/") + log.count("PATCH", "/blobs/") + log.count("PUT", "/blobs/"); n != 0 {
		t.Errorf("unchanged re-push sent %d blob requests:\n%v", n, log.reqs)
	}
	if got := strings.Count(out.String(), "(already present)"); got != 2 {
		t.Errorf("re-push progress should report both blobs present:\n%s", out.String())
	}
}

// TestFailedPushKeepsTag makes the registry fail one step of the second version's push:
// every tag must still point at the first version. (integration_test.go kills a real
// registry instead.)
func TestFailedPushKeepsTag(t *testing.T) {
	cases := []struct {
		name string
		fail func(r *http.Request) bool
	}{
		{"manifest PUT by digest", func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256:")
		}},
		{"blob upload", func(r *http.Request) bool {
			return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/")
		}},
		{"connection dropped on blob upload", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var failing atomic.Bool
			host := bundletest.StartRegistry(t, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if failing.Load() {
						if tc.fail == nil && r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/") {
							hj, ok := w.(http.Hijacker)
							if !ok {
								t.Error("cannot hijack")
								return
							}
							conn, _, _ := hj.Hijack()
							conn.Close()
							return
						}
						if tc.fail != nil && tc.fail(r) {
							http.Error(w, "injected failure", http.StatusInternalServerError)
							return
						}
					}
					h.ServeHTTP(w, r)
				})
			})
			ctx := context.Background()
			ro := client(t, WithRetryBackoff(*bundletest.FastRetries))
			opts := PushOptions{Tags: []string{"stable"}, SemverAliases: true}
			d1, err := ro.Push(ctx, bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(3, "one")), host+"/p:1.0.0", opts)
			if err != nil {
				t.Fatal(err)
			}
			failing.Store(true)
			_, err = ro.Push(ctx, bundletest.Bundle(t, "1.1.0", bundletest.DemoFiles(3, "two")), host+"/p:1.1.0", opts)
			if err == nil {
				t.Fatal("push succeeded despite the injected failure")
			}
			if exitcode.Of(err, 0) != exitcode.Environment {
				t.Errorf("exit %d for a registry failure, want 3: %v", exitcode.Of(err, 0), err)
			}
			failing.Store(false)
			for _, tag := range []string{"stable", "1", "1.0"} {
				if got := head(t, host+"/p:"+tag); got.String() != d1.DigestStr() {
					t.Errorf("tag %s moved to %s after a failed push, want %s", tag, got, d1.DigestStr())
				}
			}
			r, _ := client(t).ParseReference(host + "/p:1.1.0")
			if _, err := remote.Head(r); err == nil {
				t.Error("the failed version's tag exists")
			}
		})
	}
}

func TestSemverAliases(t *testing.T) {
	cases := []struct {
		version  string
		existing []string
		move     string
		kept     string
	}{
		{"1.4.2", nil, "1 1.4", ""},
		{"v1.4.2", nil, "v1 v1.4", ""},
		{"1.4.2", []string{"1.4.1", "1.3.9", "0.9.0", "2.0.0", "latest", "1", "1.4"}, "1 1.4", ""},
		{"1.3.10", []string{"1.4.2", "1.3.9"}, "1.3", "1"},
		{"1.4.2", []string{"1.4.10"}, "", "1 1.4"},
		{"1.4.2", []string{"1.4.3-rc.1", "1.5.0-beta"}, "1 1.4", ""}, // prereleases do not hold an alias
		{"1.4.2", []string{"1.4.2"}, "1 1.4", ""},                    // re-push of the same version
		{"1.5.0-rc.1", nil, "", ""},
		{"latest", nil, "", ""},
		{"1.4", nil, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.version+" over "+strings.Join(tc.existing, ","), func(t *testing.T) {
			move, kept := semverAliases(tc.version, tc.existing)
			var k []string
			for _, a := range kept {
				k = append(k, a.alias)
			}
			if got := strings.Join(move, " "); got != tc.move {
				t.Errorf("moves %q, want %q", got, tc.move)
			}
			if got := strings.Join(k, " "); got != tc.kept {
				t.Errorf("keeps %q, want %q", got, tc.kept)
			}
		})
	}
}

// TestSemverAliasesInARegistry pushes a release line and a hotfix of the previous minor:
// the hotfix moves its MAJOR.MINOR alias only, and a prerelease moves nothing.
func TestSemverAliasesInARegistry(t *testing.T) {
	host := bundletest.StartRegistry(t, nil)
	ctx := context.Background()
	push := func(version string) name.Digest {
		d, err := client(t).Push(ctx, bundletest.Bundle(t, version, bundletest.DemoFiles(2, version)), host+"/p:"+version, PushOptions{SemverAliases: true})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	v130 := push("1.3.0")
	v142 := push("1.4.2")
	v139 := push("1.3.9")
	push("1.5.0-rc.1")
	for tag, want := range map[string]name.Digest{"1": v142, "1.4": v142, "1.3": v139, "1.3.0": v130} {
		if got := head(t, host+"/p:"+tag); got.String() != want.DigestStr() {
			t.Errorf("%s points at %s, want %s", tag, got, want.DigestStr())
		}
	}
	tags, err := client(t).Tags(ctx, "oci://"+host+"/p")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tags, " "); got != "1.5.0-rc.1 1.4.2 1.3.9 1.3.0 1 1.3 1.4" {
		t.Errorf("tags %q", got)
	}
}

func TestTagOrder(t *testing.T) {
	cases := []struct{ in, want string }{
		{"latest 1.10.0 1.2.0 1.10.0-rc.1 2.0.0 1 0.9.9", "2.0.0 1.10.0 1.10.0-rc.1 1.2.0 0.9.9 1 latest"},
		{"1.0.0-rc.2 1.0.0-rc.10 1.0.0-rc.1 1.0.0", "1.0.0 1.0.0-rc.10 1.0.0-rc.2 1.0.0-rc.1"},
		{"1.0.0-alpha 1.0.0-alpha.1 1.0.0-alpha.beta 1.0.0-beta 1.0.0-beta.2 1.0.0-beta.11 1.0.0-rc.1 1.0.0",
			"1.0.0 1.0.0-rc.1 1.0.0-beta.11 1.0.0-beta.2 1.0.0-beta 1.0.0-alpha.beta 1.0.0-alpha.1 1.0.0-alpha"},
		{"v1.0.0 1.0.0 sha256-abc.sig main", "1.0.0 v1.0.0 main sha256-abc.sig"},
		{"01.0.0 1.0 1.0.0", "1.0.0 01.0.0 1.0"},
	}
	for _, tc := range cases {
		tags := strings.Fields(tc.in)
		sortTags(tags)
		if got := strings.Join(tags, " "); got != tc.want {
			t.Errorf("sort %q:\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// TestPullRefusesWhatIsNotABundle writes artifacts of other shapes with ggcr directly:
// Pull must refuse each as bad input, before unpacking anything.
func TestPullRefusesWhatIsNotABundle(t *testing.T) {
	host := bundletest.StartRegistry(t, nil)
	tgz, err := Tarball(bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(1, "x")))
	if err != nil {
		t.Fatal(err)
	}
	artifact := func(config types.MediaType, layers ...types.MediaType) v1.Image {
		img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), config)
		for _, mt := range layers {
			var err error
			if img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(tgz, mt)}); err != nil {
				t.Fatal(err)
			}
		}
		return img
	}
	fluxLayer := types.MediaType("application/vnd.cncf.flux.content.v1.tar+gzip")
	cases := []struct {
		name string
		img  v1.Image
		want string
	}{
		{"two layers", artifact(ConfigMediaType, LayerMediaType, LayerMediaType), "2 layers"},
		{"no layer", artifact(ConfigMediaType), "0 layers"},
		{"Flux's content type", artifact(ConfigMediaType, fluxLayer), "layer media type"},
		{"another config type", artifact(types.OCIConfigJSON, LayerMediaType), "config media type"},
		{"a docker image", mutate.MediaType(artifact(types.DockerConfigJSON, types.DockerLayer), types.DockerManifestSchema2), "not a bundle"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := fmt.Sprintf("%s/other:case-%d", host, i)
			r, err := client(t).ParseReference(ref)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(r, tc.img); err != nil {
				t.Fatal(err)
			}
			_, _, err = client(t).Pull(context.Background(), ref)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if exitcode.Of(err, 0) != exitcode.BadInput {
				t.Errorf("exit %d, want 2", exitcode.Of(err, 0))
			}
		})
	}
	t.Run("an index", func(t *testing.T) {
		ref := host + "/other:index"
		r, _ := client(t).ParseReference(ref)
		idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: artifact(ConfigMediaType, LayerMediaType)})
		if err := remote.WriteIndex(r, idx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := client(t).Pull(context.Background(), ref); exitcode.Of(err, 0) != exitcode.BadInput || !strings.Contains(err.Error(), "not a bundle") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("missing tag", func(t *testing.T) {
		if _, _, err := client(t).Pull(context.Background(), host+"/other:nope"); exitcode.Of(err, 0) != exitcode.BadInput || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestPullChecksTheLayerDigest makes the registry serve another valid bundle's layer under
// the requested digest: the bytes unpack into a consistent bundle, so only the digest
// check can catch the swap.
func TestPullChecksTheLayerDigest(t *testing.T) {
	var swap atomic.Value // map[string][]byte: blob path -> bytes to serve
	host := bundletest.StartRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if m, ok := swap.Load().(map[string][]byte); ok && r.Method == http.MethodGet {
				if body, ok := m[r.URL.Path]; ok {
					w.Header().Set("Content-Length", fmt.Sprint(len(body)))
					w.Write(body)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	ctx := context.Background()
	good := bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(3, "g00000"))
	d, err := client(t).Push(ctx, good, host+"/p:1.0.0", PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := client(t).Pull(ctx, d.String()); err != nil {
		t.Fatalf("untampered pull: %v", err)
	}
	img, _ := Pack(good, PackOptions{})
	m, _ := img.Manifest()
	blob := "/v2/p/blobs/" + m.Layers[0].Digest.String()
	// A bundle whose layer has exactly the good layer's size, so that only the digest
	// tells them apart.
	var sameSize []byte
	for i := 0; sameSize == nil && i < 1000; i++ {
		if tgz, _ := Tarball(bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(3, fmt.Sprintf("e%05d", i)))); int64(len(tgz)) == m.Layers[0].Size {
			sameSize = tgz
		}
	}
	if sameSize == nil {
		t.Fatal("found no other bundle with a layer of the same size")
	}
	otherSize, _ := Tarball(bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(30, "evil")))
	for name, body := range map[string][]byte{"same size": sameSize, "other size": otherSize} {
		t.Run(name, func(t *testing.T) {
			swap.Store(map[string][]byte{blob: body})
			_, _, err = client(t).Pull(ctx, d.String())
			if err == nil {
				t.Fatal("a layer that does not match its digest was accepted")
			}
			if exitcode.Of(err, 0) != exitcode.BadInput || !strings.Contains(err.Error(), "does not match its d") {
				t.Errorf("error %v (exit %d)", err, exitcode.Of(err, 0))
			}
		})
	}
}

// TestCredentialsNeverShown feeds registryError the shapes in which HTTP libraries and
// registries carry secrets, and drives a hostile registry that echoes the Authorization
// header back in its error bodies.
func TestCredentialsNeverShown(t *testing.T) {
	const user, pass = "ci", "s3cr3t-Pa55"
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	secrets := []string{pass, basic, "tok-abc123"}

	errs := map[string]error{
		"url error with userinfo": &url.Error{Op: "Get", URL: "https://" + user + ":" + pass + "@r.example/v2/?access_token=tok-abc123", Err: errors.New("dial tcp 10.0.0.1:443: connection refused")},
		"header in text":          fmt.Errorf("request failed: Authorization: Basic %s", basic),
		"bearer in text":          errors.New("token exchange: Bearer tok-abc123 rejected"),
		"url in text":             fmt.Errorf(`Get "https://%s:%s@r.example/v2/": EOF`, user, pass),
		"token query in text":     errors.New(`GET https://r.example/token?scope=x&password=` + pass + `: 500`),
		"transport error": &transport.Error{StatusCode: 500, Errors: []transport.Diagnostic{{Code: "UNKNOWN", Message: "Authorization: Basic " + basic}},
			Request: &http.Request{Method: "GET", URL: &url.URL{Scheme: "https", Host: "r.example", Path: "/v2/", User: url.UserPassword(user, pass)}}},
		"auth refused": &transport.Error{StatusCode: 401, Errors: []transport.Diagnostic{{Code: "UNAUTHORIZED", Message: "bad password " + pass}}},
	}
	for name, in := range errs {
		t.Run(name, func(t *testing.T) {
			err := client(t, WithBasicAuth(user, pass)).WrapError("pushing", stringer("r.example/p"), in)
			if exitcode.Of(err, 0) != exitcode.Environment {
				t.Errorf("exit %d, want 3", exitcode.Of(err, 0))
			}
			if !strings.Contains(err.Error(), "r.example/p") {
				t.Errorf("error does not name the repository: %v", err)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error shows %q: %v", s, err)
				}
			}
			var terr *transport.Error
			if errors.As(err, &terr) {
				t.Errorf("the unscrubbed transport error is reachable through errors.As")
			}
		})
	}
	t.Run("without the password in options", func(t *testing.T) {
		err := registryError("pushing", stringer("r.example/p"), errs["url in text"])
		if strings.Contains(err.Error(), pass) {
			t.Errorf("error shows the password: %v", err)
		}
	})
	t.Run("context errors stay recognisable", func(t *testing.T) {
		err := registryError("pulling", stringer("r.example/p"), fmt.Errorf("Get https://%s@r.example: %w", basic, context.DeadlineExceeded))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("deadline lost: %v", err)
		}
	})

	t.Run("hostile registry", func(t *testing.T) {
		host := bundletest.StartRegistry(t, func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				echo := fmt.Sprintf(`{"errors":[{"code":"DENIED","message":"you sent %s","detail":%q}]}`, r.Header.Get("Authorization"), r.URL.String())
				w.Header().Set("Content-Type", "application/json")
				switch {
				case r.Header.Get("Authorization") != "Basic "+basic:
					w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
					w.WriteHeader(http.StatusUnauthorized)
				case strings.Contains(r.URL.Path, "/manifests/"):
					w.WriteHeader(http.StatusInternalServerError)
				default:
					h.ServeHTTP(w, r)
					return
				}
				io.WriteString(w, echo)
			})
		})
		var progress bytes.Buffer
		ro := client(t, WithBasicAuth(user, pass), WithRetryBackoff(*bundletest.FastRetries), WithProgress(&progress))
		_, err := ro.Push(context.Background(), bundletest.Bundle(t, "1.0.0", bundletest.DemoFiles(1, "x")), host+"/p:1.0.0", PushOptions{})
		if err == nil {
			t.Fatal("push succeeded against a registry refusing manifests")
		}
		_, _, perr := ro.Pull(context.Background(), host+"/p:1.0.0")
		_, terr := client(t, WithBasicAuth(user, "wrong-"+pass)).Tags(context.Background(), host+"/p")
		for _, e := range []error{err, perr, terr} {
			if e == nil {
				t.Fatal("no error from the hostile registry")
			}
			if exitcode.Of(e, 0) != exitcode.Environment {
				t.Errorf("exit %d, want 3: %v", exitcode.Of(e, 0), e)
			}
			for _, s := range secrets {
				if strings.Contains(e.Error(), s) || strings.Contains(progress.String(), s) {
					t.Errorf("%q shown: %v\n%s", s, e, progress.String())
				}
			}
		}
	})
}

type stringer string

func (s stringer) String() string { return string(s) }

// TestSemverAliasesWhenListingIsRefused: a registry that grants push but refuses to list
// tags (or to list a repository that does not exist yet) still gets the aliases, with a
// note on stderr; a listing that fails otherwise fails the push before any upload.
func TestSemverAliasesWhenListingIsRefused(t *testing.T) {
	cases := []struct {
		name   string
		status int
		ok     bool
	}{
		{"forbidden", http.StatusForbidden, true},
		{"broken", http.StatusBadRequest, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log requestLog
			host := bundletest.StartRegistry(t, func(h http.Handler) http.Handler {
				return log.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if strings.HasSuffix(r.URL.Path, "/tags/list") {
						http.Error(w, `{"errors":[{"code":"DENIED"}]}`, tc.status)
						return
					}
					h.ServeHTTP(w, r)
				}))
			})
			var progress bytes.Buffer
			ro := client(t, WithProgress(&progress), WithRetryBackoff(*bundletest.FastRetries))
			d, err := ro.Push(context.Background(), bundletest.Bundle(t, "2.1.0", bundletest.DemoFiles(1, "x")), host+"/p:2.1.0", PushOptions{SemverAliases: true})
			if !tc.ok {
				if err == nil || log.count("POST", "/blobs/uploads/") != 0 {
					t.Fatalf("error %v after %d uploads, want a failure before any", err, log.count("POST", "/blobs/uploads/"))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range []string{"2", "2.1"} {
				if got := head(t, host+"/p:"+tag); got.String() != d.DigestStr() {
					t.Errorf("%s points at %s, want %s", tag, got, d.DigestStr())
				}
			}
			if !strings.Contains(progress.String(), "cannot list the tags") {
				t.Errorf("no note about the refused listing:\n%s", progress.String())
			}
		})
	}
}

// client is a Client with these options, failing the test when they conflict.
func client(t testing.TB, opts ...Option) *Client {
	t.Helper()
	c, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
