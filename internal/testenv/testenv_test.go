package testenv

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestClusterServesAndAuthorizes(t *testing.T) {
	c := StartCluster(t)
	admin := kubernetes.NewForConfigOrDie(c.Config)
	ctx := context.Background()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin cannot create a namespace: %v", err)
	}
	nobody := kubernetes.NewForConfigOrDie(c.UserConfig(t, "nobody"))
	_, err := nobody.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("an unbound user listed namespaces: %v", err)
	}
	InstallCRDs(t, c.Config)
	groups, err := admin.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups.Groups {
		names = append(names, g.Name)
	}
	for _, want := range []string{"policies.kyverno.io", "security.istio.io", "cert-manager.io"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("API server does not serve %s after InstallCRDs", want)
		}
	}
}

func TestRegistryAuthAndRestart(t *testing.T) {
	r := StartRegistry(t, RegistryOptions{Username: "ci", Password: "s3cret"})
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(r.Ref("probe/img:1"), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err == nil {
		t.Fatal("anonymous push to an htpasswd registry succeeded")
	}
	auth := remote.WithAuth(&authn.Basic{Username: "ci", Password: "s3cret"})
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("authenticated push: %v", err)
	}
	r.Kill()
	if _, err := remote.Head(ref, auth); err == nil {
		t.Fatal("a killed registry answered")
	}
	r.Restart()
	desc, err := remote.Head(ref, auth)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	want, _ := img.Digest()
	if desc.Digest != want {
		t.Fatalf("digest after restart %s, want %s", desc.Digest, want)
	}
}
