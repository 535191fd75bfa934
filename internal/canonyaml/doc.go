// Package canonyaml writes JSON values as YAML in one canonical block form, and reads that
// form back without a general YAML parser.
//
// The form is part of the bundle format, since the bundle digest covers its bytes:
//
//   - block style, two-space indentation, sequences at their parent key's indentation,
//     object keys in byte order, `{}` and `[]` for empty collections, no document marker;
//   - a string is written plain only when no YAML 1.1 or 1.2 parser could read it as
//     anything but that string (so "1.0.0", "yes", "null" and "*" are quoted); a string
//     with line breaks is a literal block (`|`, or `|-` without a final line break) when its
//     lines allow one; any other string is single-quoted when it prints on one line as it
//     is, and double-quoted otherwise, with JSON's escapes and \u for what YAML does not
//     print;
//   - numbers, booleans and null as JSON writes them; long lines are never folded.
//
// Reading (ToJSON) accepts a document only when writing what it read gives the same bytes
// back, so a document in the canonical form is read exactly as a YAML parser would read it,
// and any other document is left to one.
package canonyaml
