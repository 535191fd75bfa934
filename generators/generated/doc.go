// Package generated holds what every generator shares: the envelope of a generated object
// (the typed object, its bundle directory and the controls it realises), its deterministic
// serialisation, and the naming of policies.
package generated
