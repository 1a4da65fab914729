// Package volume prepares a pod's volumes on the node, as the kubelet's
// volume plugins do, so that the pod manager can bind-mount them into
// containers: emptyDir (on disk, or a tmpfs for medium Memory), hostPath
// (with the kubelet's type checks), and the API-backed volumes configMap,
// secret, downwardAPI and projected (serviceAccountToken, configMap,
// secret, downwardAPI).
//
// Volumes live at <Root>/<pod uid>/volumes/<plugin>/<name>, with the
// kubelet's plugin names (kubernetes.io~configmap, ...). API-backed
// volumes are written by an atomic writer: files go into a fresh
// timestamped directory, the "..data" symlink is swapped to it with a
// rename, and the names users see are symlinks through "..data"; so a
// running container sees an update all at once, never half of it.
//
// Manager.Run keeps them current: it watches every ConfigMap and Secret
// that a set-up pod references (one watch per object, with a
// metadata.name field selector, as the kubelet's "Watch" change detection
// does, which the node authorizer allows) and rewrites the volumes of the
// pods that use an object as soon as it changes; a periodic resync (10 s
// by default) refreshes service account tokens when 80% of their lifetime
// has passed and catches anything a watch missed. Setup reads objects from
// those watches once they have synced, and from the API otherwise.
//
// The pod manager calls Setup before it creates a pod's containers, again
// whenever it has a newer pod object (downwardAPI labels and annotations),
// and retries it while it fails; it mounts each returned path (read-only
// when ReadOnly says so) and reports each MountErrors entry as a
// FailedMount event. Teardown, once the pod's containers are gone,
// unmounts and removes everything; OnDisk lists what a previous agent
// left.
//
// Secrets and tokens are on tmpfs mounts made in the agent's mount
// namespace, as the kubelet makes them; Teardown never removes files
// before everything mounted below the pod's directory is unmounted.
package volume
