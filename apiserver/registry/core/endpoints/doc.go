// Package endpoints describes the core/v1 Endpoints resource to the generic
// store: the port protocol default, validation of subsets, repacking of
// subsets into their canonical form, PUT-creates (the endpoints controller
// relies on them) and the NAME ENDPOINTS AGE table.
package endpoints
