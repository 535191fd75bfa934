// Package demo runs Bulwark's main job end to end on a shipped example: profile → bundle →
// push to a registry (one it starts on 127.0.0.1 when none is given) → pull back → diff
// against a second version. It is what `make demo` and `bulwark demo` show a new user.
package demo
