// Two forwarders to the Swift concurrency runtime's cancellation records, for
// EventLoop's withCancellationHandlerInPlace (CancellationInPlace.swift says
// why it needs them). Swift may not name the runtime's symbols itself (they
// are reserved), so EventLoop names these instead (@_silgen_name); they are
// not in the public header and not meant for anything else.
//
// Both sides use Swift's calling convention: EventLoop calls these with a
// Swift closure (its function pointer, then its context), and the runtime
// calls that function later with the context in Swift's context register,
// as it calls the standard library's withTaskCancellationHandler handlers.
// The runtime's entries are weak: a C program linking CEventShim without
// Swift's runtime still links (and never calls these); a call without them
// stops the process with a message instead of jumping to address 0.

#if !__has_attribute(swiftcall)
#error "CEventShim needs a compiler with Swift's calling convention (clang)"
#endif

#include <stdio.h>
#include <stdlib.h>

#define SWIFT_CALL __attribute__((swiftcall))

extern SWIFT_CALL void *swift_task_addCancellationHandler(void *handler, void *context) __attribute__((weak));
extern SWIFT_CALL void swift_task_removeCancellationHandler(void *record) __attribute__((weak));

static void require_runtime(void *entry) {
    if (entry) return;
    fputs("CEventShim: Swift's concurrency runtime is not linked in\n", stderr);
    abort();
}

SWIFT_CALL void *cevent_task_add_cancellation_handler(void *handler, void *context) {
    require_runtime((void *)swift_task_addCancellationHandler);
    return swift_task_addCancellationHandler(handler, context);
}

SWIFT_CALL void cevent_task_remove_cancellation_handler(void *record) {
    require_runtime((void *)swift_task_removeCancellationHandler);
    swift_task_removeCancellationHandler(record);
}
