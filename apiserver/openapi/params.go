package openapi

// param is a path or query parameter of an operation.
type param struct {
	name     string
	in       string // path or query
	typ      string // string, boolean or integer
	desc     string
	required bool
}

func query(name, typ, desc string) param { return param{name: name, in: "query", typ: typ, desc: desc} }

func pathParam(name, desc string) param {
	return param{name: name, in: "path", typ: "string", desc: desc, required: true}
}

func namespaceParam() param {
	return pathParam("namespace", "object name and auth scope, such as for teams and projects")
}

func nameParam(kind string) param { return pathParam("name", "name of the "+kind) }

func prettyParam() param {
	return query("pretty", "string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).")
}

func dryRunParam() param {
	return query("dryRun", "string", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive results in an error and no further processing of the request. Valid values are: - All: all dry run stages will be processed")
}

func fieldManagerParam(patch bool) param {
	desc := "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint."
	if patch {
		desc += " This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch)."
	}
	return query("fieldManager", "string", desc)
}

func fieldValidationParam() param {
	return query("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: unknown fields are silently dropped and all but the last duplicate field are ignored. - Warn: the request succeeds, and a warning is sent in the standard warning response header for each unknown field dropped and each duplicate field found. This is the default. - Strict: the request fails with a BadRequest error listing every unknown and duplicate field.")
}

func forceParam() param {
	return query("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.")
}

// writeParams are the query parameters of create and update.
func writeParams() []param {
	return []param{dryRunParam(), fieldManagerParam(false), fieldValidationParam()}
}

// patchParams are the query parameters of patch.
func patchParams() []param {
	return []param{dryRunParam(), fieldManagerParam(true), fieldValidationParam(), forceParam()}
}

// deleteParams are the query parameters of delete.
func deleteParams() []param {
	return []param{
		dryRunParam(),
		query("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately."),
		query("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. The default value is false."),
		query("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both."),
		query("propagationPolicy", "string", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground."),
	}
}

// listParams are the query parameters of list and watch.
func listParams() []param {
	return []param{
		query("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. If this is not a watch, this field is ignored."),
		continueParam(),
		fieldSelectorParam(),
		labelSelectorParam(),
		limitParam(),
		resourceVersionParam(),
		resourceVersionMatchParam(),
		sendInitialEventsParam(),
		timeoutSecondsParam(),
		query("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion."),
	}
}

// deleteCollectionParams are the query parameters of deletecollection.
func deleteCollectionParams() []param {
	d := deleteParams()
	return []param{
		continueParam(), d[0], fieldSelectorParam(), d[1], d[2], labelSelectorParam(), limitParam(), d[3], d[4],
		resourceVersionParam(), resourceVersionMatchParam(), sendInitialEventsParam(), timeoutSecondsParam(),
	}
}

func continueParam() param {
	return query("continue", "string", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue). If the continue value is no longer valid, the server responds with a 410 ResourceExpired error. This field is not supported when watch is true.")
}

func fieldSelectorParam() param {
	return query("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything.")
}

func labelSelectorParam() param {
	return query("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything.")
}

func limitParam() param {
	return query("limit", "integer", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results. This field is not supported if watch is true.")
}

func resourceVersionParam() param {
	return query("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset")
}

func resourceVersionMatchParam() param {
	return query("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset")
}

func sendInitialEventsParam() param {
	return query("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`. The watch stream then begins with synthetic events for the current state of the objects in the collection, followed by a synthetic \"Bookmark\" event annotated with `\"k8s.io/initial-events-end\": \"true\"`, before proceeding as usual. It requires resourceVersionMatch to be set.")
}

func timeoutSecondsParam() param {
	return query("timeoutSeconds", "integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.")
}

// logParams are the query parameters of the pods/log subresource.
func logParams() []param {
	return []param{
		query("container", "string", "The container for which to stream logs. Defaults to only container if there is one container in the pod."),
		query("follow", "boolean", "Follow the log stream of the pod. Defaults to false."),
		query("insecureSkipTLSVerifyBackend", "boolean", "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to."),
		query("limitBytes", "integer", "If set, the number of bytes to read from the server before terminating the log output."),
		query("previous", "boolean", "Return previous terminated container logs. Defaults to false."),
		query("sinceSeconds", "integer", "A relative time in seconds before the current time from which to show logs."),
		query("stream", "string", "Specify which container log stream to return to the client: All, Stdout or Stderr. Defaults to All."),
		query("tailLines", "integer", "If set, the number of lines from the end of the logs to show."),
		query("timestamps", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false."),
	}
}

// connectParams are the query parameters of the connect subresources.
func connectParams(sub string) []param {
	streams := []param{
		query("container", "string", "The container in which to execute the command. Defaults to only container if there is only one container in the pod."),
		query("stderr", "boolean", "Redirect the standard error stream of the pod for this call."),
		query("stdin", "boolean", "Redirect the standard input stream of the pod for this call. Defaults to false."),
		query("stdout", "boolean", "Redirect the standard output stream of the pod for this call."),
		query("tty", "boolean", "TTY if true indicates that a tty will be allocated for the call. Defaults to false."),
	}
	switch sub {
	case "exec":
		return append([]param{query("command", "string", "Command is the remote command to execute. argv array. Not executed within a shell.")}, streams...)
	case "attach":
		return streams
	case "portforward":
		return []param{query("ports", "integer", "List of ports to forward.")}
	case "proxy":
		return []param{query("path", "string", "Path is the URL path to use for the current proxy request.")}
	}
	return nil
}

func isConnect(sub string) bool {
	switch sub {
	case "exec", "attach", "portforward", "proxy":
		return true
	}
	return false
}
