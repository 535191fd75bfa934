package oci

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/bundle"
	"bulwark.dev/bulwark/bundle/internal/bundletest"
	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/internal/testenv"
)

// countingTransport counts blob upload sessions as they leave the client, and can run a
// hook before each request (to kill the registry at a chosen moment).
type countingTransport struct {
	mu      sync.Mutex
	uploads int
	before  func(r *http.Request, uploads int)
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
		c.uploads++
	}
	n, hook := c.uploads, c.before
	c.mu.Unlock()
	if hook != nil {
		hook(r, n)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uploads
}

// TestRealRegistry pushes, pulls, re-pushes, tags, fails auth and loses the registry in
// the middle of a push, against a real CNCF Distribution registry with htpasswd auth.
func TestRealRegistry(t *testing.T) {
	const user, pass = "ci", "correct-horse-battery"
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{Username: user, Password: pass})
	ctx := context.Background()
	auth := client(t, WithBasicAuth(user, pass))
	repo := "oci://" + reg.Ref("policies/demo")
	digestOf := func(ref string) string {
		t.Helper()
		d, err := auth.Resolve(ctx, ref)
		if err != nil {
			t.Fatalf("resolving %s: %v", ref, err)
		}
		return d.DigestStr()
	}

	v142 := bundletest.Bundle(t, "1.4.2", bundletest.DemoFiles(30, "one"))
	want, err := Digest(v142, PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	push := func(b *bundle.Bundle, tag string, counter *countingTransport, progress *bytes.Buffer) (name.Digest, error) {
		opts := []Option{WithBasicAuth(user, pass), WithTransport(counter)}
		if progress != nil {
			opts = append(opts, WithProgress(progress))
		}
		return client(t, opts...).Push(ctx, b, repo+":"+tag, PushOptions{SemverAliases: true, Tags: []string{"latest"}})
	}
	counter := &countingTransport{}
	d1, err := push(v142, "1.4.2", counter, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d1.DigestStr() != want.String() {
		t.Fatalf("pushed digest %s, Digest says %s", d1.DigestStr(), want)
	}
	if counter.count() != 2 {
		t.Errorf("first push opened %d uploads, want 2 (layer and config)", counter.count())
	}

	t.Run("pull returns the same tree", func(t *testing.T) {
		got, d, err := auth.Pull(ctx, repo+":1.4.2")
		if err != nil {
			t.Fatal(err)
		}
		if d != d1 {
			t.Errorf("pulled %s, pushed %s", d, d1)
		}
		if len(got.Files) != len(v142.Files) {
			t.Fatalf("pulled %d files, pushed %d", len(got.Files), len(v142.Files))
		}
		for p, data := range v142.Files {
			if !bytes.Equal(got.Files[p], data) {
				t.Errorf("%s differs after pull", p)
			}
		}
		if again, err := Digest(got, PackOptions{}); err != nil || again != want {
			t.Errorf("the pulled bundle packs to %s (%v), want %s", again, err, want)
		}
	})

	t.Run("unchanged re-push uploads no blobs", func(t *testing.T) {
		again := &countingTransport{}
		var progress bytes.Buffer
		d, err := push(bundletest.Bundle(t, "1.4.2", bundletest.DemoFiles(30, "one")), "1.4.2", again, &progress)
		if err != nil {
			t.Fatal(err)
		}
		if d != d1 || again.count() != 0 {
			t.Fatalf("re-push: digest %s (first %s), %d uploads", d, d1, again.count())
		}
		if strings.Count(progress.String(), "(already present)") != 2 {
			t.Errorf("progress does not report both blobs present:\n%s", progress.String())
		}
	})

	t.Run("tags and semver aliases", func(t *testing.T) {
		rc, err := push(bundletest.Bundle(t, "1.10.0-rc.1", bundletest.DemoFiles(2, "rc")), "1.10.0-rc.1", &countingTransport{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		hotfix, err := push(bundletest.Bundle(t, "1.3.9", bundletest.DemoFiles(2, "hotfix")), "1.3.9", &countingTransport{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tags, err := auth.Tags(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(tags, " "); got != "1.10.0-rc.1 1.4.2 1.3.9 1 1.3 1.4 latest" {
			t.Errorf("tags %q", got)
		}
		for tag, want := range map[string]string{"1": d1.DigestStr(), "1.4": d1.DigestStr(), "1.3": hotfix.DigestStr(), "latest": hotfix.DigestStr(), "1.10.0-rc.1": rc.DigestStr()} {
			if got := digestOf(repo + ":" + tag); got != want {
				t.Errorf("%s points at %s, want %s", tag, got, want)
			}
		}
	})

	t.Run("refused credentials are exit 3 and never printed", func(t *testing.T) {
		// The docker config is empty here, so the keychain finds no credentials.
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		for name, ro := range map[string]*Client{
			"wrong password": client(t, WithBasicAuth(user, "hunter2-wrong")),
			"anonymous":      client(t),
		} {
			_, _, err := ro.Pull(ctx, repo+":1.4.2")
			if err == nil || exitcode.Of(err, 0) != exitcode.Environment {
				t.Fatalf("%s: error %v (exit %d), want exit 3", name, err, exitcode.Of(err, 0))
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), pass) {
				t.Errorf("%s: error shows a credential: %v", name, err)
			}
			if !strings.Contains(err.Error(), "authentication refused") || !strings.Contains(err.Error(), reg.Addr+"/policies/demo") {
				t.Errorf("%s: error does not say what happened where: %v", name, err)
			}
		}
	})

	t.Run("registry killed mid-push leaves every tag alone", func(t *testing.T) {
		before := map[string]string{}
		for _, tag := range []string{"latest", "1", "1.4"} {
			before[tag] = digestOf(repo + ":" + tag)
		}
		v150 := bundletest.Bundle(t, "1.5.0", bundletest.DemoFiles(30, "two"))
		var once sync.Once
		killer := &countingTransport{}
		// The layer goes first; kill once it is in, as the client checks for the config
		// blob, so the registry holds a complete new layer and nothing else of 1.5.0.
		killer.before = func(r *http.Request, uploads int) {
			if uploads == 1 && r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/blobs/") {
				once.Do(reg.Kill)
			}
		}
		_, err := push(v150, "1.5.0", killer, nil)
		if err == nil {
			t.Fatal("push to a killed registry succeeded")
		}
		if exitcode.Of(err, 0) != exitcode.Environment || !strings.Contains(err.Error(), reg.Addr) {
			t.Errorf("exit %d, want 3 naming the registry: %v", exitcode.Of(err, 0), err)
		}
		if strings.Contains(err.Error(), pass) {
			t.Errorf("error shows the password: %v", err)
		}

		_, _, err = auth.Pull(ctx, repo+":1.4.2")
		if exitcode.Of(err, 0) != exitcode.Environment {
			t.Errorf("pull from a stopped registry: exit %d, want 3: %v", exitcode.Of(err, 0), err)
		}

		reg.Restart()
		for tag, want := range before {
			if got := digestOf(repo + ":" + tag); got != want {
				t.Errorf("%s points at %s after the failed push, want %s", tag, got, want)
			}
		}
		r, _ := auth.ParseReference(repo + ":1.5.0")
		if _, err := remote.Head(r, auth.RemoteOptions(ctx)...); err == nil {
			t.Error("tag 1.5.0 exists after the failed push")
		}

		// Pushing again resumes: the layer survived the crash and the config ({}) is
		// shared with every other bundle, so nothing is uploaded twice.
		if killer.count() != 1 {
			t.Fatalf("the killed push opened %d uploads, want 1 (the layer)", killer.count())
		}
		resume := &countingTransport{}
		d, err := push(v150, "1.5.0", resume, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resume.count() != 0 {
			t.Errorf("the retried push opened %d uploads, want none", resume.count())
		}
		for _, tag := range []string{"latest", "1", "1.5", "1.5.0"} {
			if got := digestOf(repo + ":" + tag); got != d.DigestStr() {
				t.Errorf("%s points at %s after the retried push, want %s", tag, got, d.DigestStr())
			}
		}
	})
}
