// Package resourcequota describes the core/v1 ResourceQuota resource to the
// generic store: quota resource names and quantities, scopes and scope
// selectors, immutable scopes, the status subresource (status is set by the
// quota controller only) and the NAME AGE REQUEST LIMIT table.
package resourcequota
