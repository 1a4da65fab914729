// Package endpoints is berth's endpoints-controller, as in
// kube-controller-manager: for every Service with a selector it keeps an
// Endpoints object of the same name listing its pods' addresses — ready
// ones in addresses, the others in notReadyAddresses (all in addresses
// with publishNotReadyAddresses), terminating and finished pods left out —
// with the ports resolved on each pod, repacked into Kubernetes' canonical
// subsets, truncated at 1000 addresses, and deleted with the Service.
// Endpoints of Services without a selector are their owners' business.
package endpoints
