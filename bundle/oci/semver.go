package oci

import (
	"regexp"
	"strconv"
	"strings"
)

// semver is a parsed [v]MAJOR.MINOR.PATCH[-PRE][+BUILD] tag.
type semver struct {
	nums [3]int
	pre  []string
	ok   bool
}

// OCI tags cannot hold '+', so build metadata is accepted only for completeness.
var semverTag = regexp.MustCompile(`^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z.-]+)?$`)

func parseSemver(s string) semver {
	m := semverTag.FindStringSubmatch(s)
	if m == nil {
		return semver{}
	}
	var v semver
	for i := 0; i < 3; i++ {
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return semver{} // too many digits for an int
		}
		v.nums[i] = n
	}
	if m[4] != "" {
		v.pre = strings.Split(m[4], ".")
	}
	v.ok = true
	return v
}

func (v semver) isRelease() bool { return v.ok && len(v.pre) == 0 }

// compareSemver orders two parsed versions by semver precedence (§11 of semver.org):
// numbers numerically, a release above its prereleases, prerelease identifiers one by one
// with numeric ones numerically and below alphanumeric ones.
func compareSemver(a, b semver) int {
	for i := 0; i < 3; i++ {
		if a.nums[i] != b.nums[i] {
			return cmpInt(a.nums[i], b.nums[i])
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		xn, xerr := strconv.Atoi(x)
		yn, yerr := strconv.Atoi(y)
		switch {
		case xerr == nil && yerr == nil:
			if xn != yn {
				return cmpInt(xn, yn)
			}
		case xerr == nil:
			return -1
		case yerr == nil:
			return 1
		case x != y:
			return strings.Compare(x, y)
		}
	}
	return cmpInt(len(a.pre), len(b.pre))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// tagLess orders semantic versions first, highest first; other tags after, lexically.
// Equal versions spelled differently (1.0.0 and v1.0.0) fall back to lexical order, so
// the order is total and does not depend on the registry's listing order.
func tagLess(a, b string) bool {
	va, vb := parseSemver(a), parseSemver(b)
	switch {
	case va.ok && !vb.ok:
		return true
	case !va.ok && vb.ok:
		return false
	case va.ok && vb.ok:
		if c := compareSemver(va, vb); c != 0 {
			return c > 0
		}
	}
	return a < b
}
