// Package bootstrap lets new nodes in with a bootstrap token, as
// Kubernetes' bootstrap token authenticator does: a bearer token
// "<id>.<secret>" whose Secret kube-system/bootstrap-token-<id> exists, is
// unexpired and is marked for authentication authenticates as
// system:bootstrap:<id> in the group system:bootstrappers (plus the
// Secret's extra groups). Such a user may do little more than ask for a
// node certificate: the Authorizer here limits it to what Kubernetes'
// system:node-bootstrapper role allows. PublicClusterInfo names the one
// request a joining node makes before it has any credentials, the
// discovery ConfigMap kube-public/cluster-info.
package bootstrap
