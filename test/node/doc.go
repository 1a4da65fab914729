// Package node is the end-to-end test suite of berth's node agent: it proves
// that a pod on a berth node behaves as it would on a Kubernetes node run by
// the kubelet, seen from the outside the way a user sees it.
//
// Every test runs the real berth binary (built once from ./cmd/berth, with
// the built-in images embedded by ./hack/build.sh) as `berth up`: a whole
// single-node cluster in a child process, with its own short data directory,
// bridge, pod CIDR and node name, so that several tests run side by side on
// one machine. The tests drive it with the real kubectl and look at the
// result where a user or an operator would: kubectl output and object
// status, HTTP answers from pod IPs, cgroup files on the host, processes,
// mounts and iptables rules.
//
// What the suite proves, test by test:
//
//   - TestWorkloads: a Deployment of berth/demo runs Ready pods that answer
//     HTTP with their own names, rolls out to v2 and back (rollout undo);
//     container limits become cgroup limits (memory.limit_in_bytes,
//     cpu.cfs_quota_us); init containers run in order to completion before
//     the main container; ConfigMaps and Secrets reach pods as files and as
//     environment variables, and a ConfigMap update reaches the files of a
//     running pod.
//   - TestContainerLifecycle: httpGet, tcpSocket, exec and grpc probes
//     (readiness keeps a pod out of Ready, liveness restarts a container with
//     Unhealthy and Killing events, a startup probe holds back the others);
//     crash loops back off (CrashLoopBackOff, growing delays, BackOff
//     events); a container over its memory limit ends OOMKilled with 137;
//     graceful termination honours SIGTERM handlers and the grace period.
//   - TestStreams: kubectl logs (-c, --tail, -f, --previous), exec (with and
//     without stdin, exit codes), port-forward and cp in both directions.
//   - TestFaults: an image that does not exist (ErrImagePull,
//     ImagePullBackOff), a pod bound to a node without room for it
//     (Failed, OutOfcpu), a container's process killed from the host
//     (restarted, restartCount grows).
//   - TestAgentRestart: with --keep-pods the pods outlive berth (a clean
//     stop and a kill -9) and the next start adopts them (same container
//     IDs, no restarts); the agent restarts its containerd when it is killed
//     and the pods never stop answering.
//   - TestJoin: `berth token create` on a control plane (`berth server`),
//     `berth agent --server --token` on a node: the node gets certificates
//     of its own through approved CSRs, becomes Ready, runs a pod whose logs
//     and exec reach it through the API server, and stops cleanly; a token
//     with a wrong secret or a wrong CA hash is refused with a message.
//   - TestCleanShutdown: Ctrl-C (SIGINT) with pods running exits 0 promptly
//     and leaves no process, mount, cgroup or iptables rule behind.
//
// Every cluster, whatever its test, is stopped the same way at the end and
// checked for leftovers: no process mentions its data directory, nothing is
// mounted below it, no pod cgroup is left under /berth/NODE in any cgroup
// hierarchy and no iptables NAT rule names its pod network; then its bridge
// and data directory are removed.
//
// The tests need root, containerd, runc, the CNI plugins and kubectl (see
// /work/shared/notes/containerd-here.md); they are skipped when not run as
// root. At most three clusters run at once (BERTH_NODE_CLUSTERS changes it);
// KUBECTL names another kubectl binary; BERTH_NODE_VERBOSE=1 prints berth's
// output even when a test passes (it is always printed when one fails).
package node
