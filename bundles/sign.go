package bundles

import (
	"bytes"
	"context"
	"crypto"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"bulwark.dev/bulwark/internal/exitcode"
)

// The cosign key-signature format that cosign verify and Flux's OCIRepository accept: an
// image tagged sha256-<digest>.sig whose layers each hold a simple-signing payload naming
// the signed digest, with the base64 signature as a layer annotation.
const (
	SimpleSigningMediaType types.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	SignatureAnnotation                    = "dev.cosignproject.cosign/signature"
)

// ErrSignature marks a bundle whose signature is missing or does not verify (exit 1).
var ErrSignature = errors.New("signature refused")

// GenerateKeyPair returns an ECDSA P-256 key pair in cosign's format: the private key
// encrypted with password (ENCRYPTED SIGSTORE PRIVATE KEY), the public key as PEM.
func GenerateKeyPair(password []byte) (privPEM, pubPEM []byte, err error) {
	return cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), func(bool) ([]byte, error) { return password, nil })
}

// LoadSigner reads a cosign private key (encrypted or not).
func LoadSigner(privPEM, password []byte) (signature.SignerVerifier, error) {
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(privPEM, func(bool) ([]byte, error) { return password, nil })
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading the signing key (wrong password?): %w", err))
	}
	sv, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("loading the signing key: %w", err))
	}
	return sv, nil
}

// LoadVerifier reads a PEM public key.
func LoadVerifier(pubPEM []byte) (signature.Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("reading the public key: %w", err))
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, exitcode.AsBadInput(fmt.Errorf("loading the public key: %w", err))
	}
	return v, nil
}

func signatureTag(d name.Digest) name.Tag {
	return d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig")
}

// Sign attaches a cosign signature of the artifact at d. Signatures already attached
// (by other keys, or earlier runs) are kept.
func Sign(ctx context.Context, d name.Digest, signer signature.Signer, opts RemoteOptions) error {
	body, err := payload.Cosign{Image: d}.MarshalJSON()
	if err != nil {
		return err
	}
	sig, err := signer.SignMessage(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("signing %s: %w", d, err)
	}
	tag := signatureTag(d)
	var base v1.Image = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if existing, err := remote.Image(tag, opts.remote(ctx)...); err == nil {
		base = existing
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(body, SimpleSigningMediaType),
		Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return err
	}
	if err := remote.Write(tag, img, opts.remote(ctx)...); err != nil {
		return registryError("writing the signature of", d, err)
	}
	return nil
}

// VerifySignature checks that the artifact at d carries a cosign signature by the key that
// verifies, over a payload naming exactly d's digest: a signature copied from another
// artifact is refused.
func VerifySignature(ctx context.Context, d name.Digest, verifier signature.Verifier, opts RemoteOptions) error {
	sigs, err := remote.Image(signatureTag(d), opts.remote(ctx)...)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return exitcode.AsFailed(fmt.Errorf("%s: %w: the bundle is not signed", d, ErrSignature))
		}
		return registryError("reading the signatures of", d, err)
	}
	m, err := sigs.Manifest()
	if err != nil {
		return registryError("reading the signatures of", d, err)
	}
	layers, err := sigs.Layers()
	if err != nil {
		return registryError("reading the signatures of", d, err)
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
			return registryError("reading the signatures of", d, err)
		}
		body, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return registryError("reading the signatures of", d, err)
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
