// Package configmap describes the core/v1 ConfigMap resource to the generic
// store: key names, the 1 MiB size limit over data and binaryData,
// immutable config maps, and the NAME DATA AGE table.
package configmap
