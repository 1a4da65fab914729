package node

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Hostname is the name the kubelet gives its node by default: the host
// name, lowercased.
func Hostname() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("host name: %w", err)
	}
	return strings.ToLower(strings.TrimSpace(h)), nil
}

// DetectAddresses finds the node's addresses as a kubelet without a cloud
// provider does: the InternalIP is the IPv4 address of the interface of
// the default route (else the first global IPv4, else IPv6, address of an
// interface that is up), and hostname is the Hostname address.
func DetectAddresses(hostname string) ([]corev1.NodeAddress, error) {
	ip, err := hostIP("/proc/net/route")
	if err != nil {
		return nil, err
	}
	addrs := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}}
	if hostname != "" {
		addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeHostName, Address: hostname})
	}
	return addrs, nil
}

// hostIP picks the node's IP (see DetectAddresses); routes is the IPv4
// routing table file.
func hostIP(routes string) (netip.Addr, error) {
	if name, err := defaultRouteInterface(routes); err == nil {
		if iface, err := net.InterfaceByName(name); err == nil {
			if ip, ok := firstGlobal(iface, true); ok {
				return ip, nil
			}
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list interfaces: %w", err)
	}
	for _, v4 := range []bool{true, false} {
		for i := range ifaces {
			iface := &ifaces[i]
			if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
				continue
			}
			if ip, ok := firstGlobal(iface, v4); ok {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, errors.New("no global unicast address on any interface; set the node's address")
}

// defaultRouteInterface reads the interface of the IPv4 default route
// from a /proc/net/route table (the one of least metric).
func defaultRouteInterface(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return parseDefaultRoute(bufio.NewScanner(f))
}

func parseDefaultRoute(sc *bufio.Scanner) (string, error) {
	best, bestMetric := "", -1
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		if len(f) < 8 || f[0] == "Iface" || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		var metric int
		if _, err := fmt.Sscan(f[6], &metric); err != nil {
			continue
		}
		if bestMetric < 0 || metric < bestMetric {
			best, bestMetric = f[0], metric
		}
	}
	if best == "" {
		return "", errors.New("no default route")
	}
	return best, nil
}

// firstGlobal is iface's first global unicast address of the family.
func firstGlobal(iface *net.Interface, v4 bool) (netip.Addr, bool) {
	addrs, err := iface.Addrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := p.Addr().Unmap()
		if ip.Is4() == v4 && ip.IsGlobalUnicast() {
			return ip, true
		}
	}
	return netip.Addr{}, false
}
