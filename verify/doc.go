// Package verify proves that a live cluster has converged on a bundle version: every bundle
// object present and matching, policies and issuers ready, every namespace in scope now
// covered, the GitOps tool reporting the bundle's digest, no expired exception, and no object
// left behind by an earlier version. It works from the bundle alone (the index carries the
// scope) and reads the cluster with one paginated LIST per kind.
//
// # Report schema
//
// `bulwark verify -o json` prints a JSON list with one Report per cluster. The schema is
// bulwark.dev/v1alpha1 VerifyReport; fields are only ever added within a version:
//
//	apiVersion  "bulwark.dev/v1alpha1"
//	kind        "VerifyReport"
//	cluster     kubeconfig context the report is about
//	bundle      {profile, version, digest, framework, catalogue}: what was verified
//	converged   true when nothing failed and the cluster could be checked
//	checkedAt   RFC 3339 time, seconds, UTC
//	findings[]  failures first, then warnings, then passes; within each by control:
//	  check     present | matching | ready | coverage | gitops | exception | drift
//	  status    fail | warn | pass
//	  controls  catalogue control ids the finding evidences (may be empty)
//	  tsc       SOC 2 Trust Services Criteria of those controls, sorted
//	  object    {apiVersion, kind, namespace, name} of the object concerned, if any
//	  message   what was found, naming the object, namespace and values
//	  command   kubectl command that shows the object (failures and warnings only)
//	controls[]  per control, sorted by id: {id, title, tsc, status, failures}, status being
//	            the worst of its findings; only controls the bundle realises are judged
//	notApplicable[]  enabled controls the bundle does not realise, from its index's
//	            notRealised: {id, title, reason}; never checked (omitted when none)
//	stats       {apiCalls, bytes, lists, retries, namespacesInScope, objects}: the cost
//	error       set instead of findings when the cluster could not be checked
package verify
