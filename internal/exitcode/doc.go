// Package exitcode classifies errors into Bulwark's documented process exit codes, so that
// library packages can say what kind of failure happened without knowing about processes.
//
//	0  ok / converged
//	1  checked and found wanting (not converged, violations, signature refused)
//	2  bad input (profile, flags, bundle)
//	3  environment (registry or cluster unreachable, auth refused, timeout)
package exitcode
