package daemonset

// TargetNode is exported for the integration test (package daemonset_test,
// external because the test server imports this package).
var TargetNode = targetNode
