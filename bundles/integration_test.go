package bundles

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/exitcode"
	"bulwark.dev/bulwark/internal/testenv"
)

// countingTransport counts blob uploads and can run a hook before each request.
type countingTransport struct {
	mu      sync.Mutex
	uploads int
	before  func(*http.Request)
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/blobs/uploads/") {
		c.mu.Lock()
		c.uploads++
		c.mu.Unlock()
	}
	if c.before != nil {
		c.before(r)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestRealRegistry pushes, pulls, re-pushes, tags and fails against a real CNCF
// Distribution registry with htpasswd auth.
func TestRealRegistry(t *testing.T) {
	const user, pass = "ci", "correct-horse-battery"
	reg := testenv.StartRegistry(t, testenv.RegistryOptions{Username: user, Password: pass})
	ctx := context.Background()
	auth := RemoteOptions{Username: user, Password: pass}
	repo := "oci://" + reg.Ref("policies/demo")

	v1 := testBundle(t, "1.4.2", demoFiles(30, "one"))
	want, err := Digest(v1, PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counter := &countingTransport{}
	opts := PushOptions{RemoteOptions: auth, SemverAliases: true, Tags: []string{"latest"}}
	opts.Transport = counter
	d1, err := Push(ctx, v1, repo+":1.4.2", opts)
	if err != nil {
		t.Fatal(err)
	}
	if d1.DigestStr() != want.String() {
		t.Fatalf("pushed digest %s, digest command says %s", d1.DigestStr(), want)
	}
	if counter.uploads == 0 {
		t.Fatal("first push uploaded nothing")
	}

	t.Run("pull returns the same tree", func(t *testing.T) {
		got, d, err := Pull(ctx, repo+":1.4.2", auth)
		if err != nil {
			t.Fatal(err)
		}
		if d.DigestStr() != want.String() || len(got.Files) != len(v1.Files) {
			t.Fatalf("pulled %s with %d files", d, len(got.Files))
		}
		for p, data := range v1.Files {
			if string(got.Files[p]) != string(data) {
				t.Errorf("%s differs after pull", p)
			}
		}
	})

	t.Run("unchanged re-push uploads no blobs", func(t *testing.T) {
		again := &countingTransport{}
		o := opts
		o.Transport = again
		d, err := Push(ctx, testBundle(t, "1.4.2", demoFiles(30, "one")), repo+":1.4.2", o)
		if err != nil {
			t.Fatal(err)
		}
		if d.DigestStr() != want.String() || again.uploads != 0 {
			t.Fatalf("re-push: digest %s, %d blob uploads", d, again.uploads)
		}
	})

	t.Run("tags and semver aliases", func(t *testing.T) {
		if _, err := Push(ctx, testBundle(t, "1.10.0-rc.1", demoFiles(2, "rc")), repo+":1.10.0-rc.1", PushOptions{RemoteOptions: auth, SemverAliases: true}); err != nil {
			t.Fatal(err)
		}
		tags, err := Tags(ctx, repo, auth)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(tags, " "); got != "1.10.0-rc.1 1.4.2 1 1.4 latest" {
			t.Errorf("tags %q", got)
		}
	})

	t.Run("wrong password is exit 3 and never printed", func(t *testing.T) {
		_, _, err := Pull(ctx, repo+":1.4.2", RemoteOptions{Username: user, Password: "hunter2-wrong"})
		if err == nil || exitcode.Of(err, 0) != exitcode.Environment {
			t.Fatalf("error %v (exit %d), want exit 3", err, exitcode.Of(err, 0))
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), pass) {
			t.Fatalf("error shows a credential: %v", err)
		}
		if !strings.Contains(err.Error(), "authentication refused") {
			t.Errorf("error does not say what happened: %v", err)
		}
	})

	t.Run("registry killed mid-push leaves the tag alone", func(t *testing.T) {
		var once sync.Once
		killer := &countingTransport{}
		killer.before = func(r *http.Request) {
			if strings.Contains(r.URL.Path, "/blobs/uploads/") {
				once.Do(reg.Kill)
			}
		}
		o := PushOptions{RemoteOptions: auth}
		o.Transport = killer
		_, err := Push(ctx, testBundle(t, "1.5.0", demoFiles(30, "two")), repo+":1.4.2", o)
		if err == nil {
			t.Fatal("push to a killed registry succeeded")
		}
		if exitcode.Of(err, 0) != exitcode.Environment {
			t.Errorf("exit %d, want 3: %v", exitcode.Of(err, 0), err)
		}
		reg.Restart()
		ref, _ := ParseReference(repo+":1.4.2", auth)
		desc, err := remote.Head(ref, auth.remote(ctx)...)
		if err != nil {
			t.Fatal(err)
		}
		if desc.Digest.String() != want.String() {
			t.Fatalf("tag points at %s after the failed push, want %s", desc.Digest, want)
		}
	})
}
