// Package secret describes the core/v1 Secret resource to the generic store:
// the Opaque type default, stringData folded into data, key and size rules,
// the keys each well-known type requires, the immutable type and immutable
// secrets, the `type` field selector and the NAME TYPE DATA AGE table.
package secret
