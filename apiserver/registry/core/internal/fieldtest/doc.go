// Package fieldtest helps the tests of the core resources compare field
// errors by path and type, the part of an error clients act on.
package fieldtest
