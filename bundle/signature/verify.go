package signature

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"bulwark.dev/bulwark/bundle/oci"
	"bulwark.dev/bulwark/internal/exitcode"
)

// Verify checks that the artifact at d carries a cosign signature by the key that verifies,
// over a payload naming exactly d's digest: a signature copied from another artifact is
// refused. A refused or missing signature is ErrSignature (exit 1).
func Verify(ctx context.Context, c *oci.Client, d name.Digest, verifier Verifier) error {
	sigs, err := remote.Image(signatureTag(d), c.RemoteOptions(ctx)...)
	if err != nil {
		if notFound(err) {
			return exitcode.AsFailed(fmt.Errorf("%s: %w: the bundle is not signed", d, ErrSignature))
		}
		return c.WrapError("reading the signatures of", d, err)
	}
	m, err := sigs.Manifest()
	if err != nil {
		return c.WrapError("reading the signatures of", d, err)
	}
	layers, err := sigs.Layers()
	if err != nil {
		return c.WrapError("reading the signatures of", d, err)
	}
	var reasons []string
	for i, desc := range m.Layers {
		if desc.MediaType != SimpleSigningMediaType || i >= len(layers) {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(desc.Annotations[SignatureAnnotation])
		if err != nil {
			reasons = append(reasons, "a signature is not base64")
			continue
		}
		rc, err := layers[i].Uncompressed()
		if err != nil {
			return c.WrapError("reading the signatures of", d, err)
		}
		body, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return c.WrapError("reading the signatures of", d, err)
		}
		if err := verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)); err != nil {
			reasons = append(reasons, "a signature was not made by this key")
			continue
		}
		var p payload.SimpleContainerImage
		if err := json.Unmarshal(body, &p); err != nil {
			reasons = append(reasons, "a signed payload is malformed")
			continue
		}
		if p.Critical.Image.DockerManifestDigest != d.DigestStr() {
			reasons = append(reasons, fmt.Sprintf("a valid signature is for another artifact (%s)", p.Critical.Image.DockerManifestDigest))
			continue
		}
		return nil
	}
	if len(reasons) == 0 {
		reasons = []string{"no cosign signature layers"}
	}
	return exitcode.AsFailed(fmt.Errorf("%s: %w: %s", d, ErrSignature, strings.Join(reasons, "; ")))
}
