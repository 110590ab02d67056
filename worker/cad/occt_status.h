// Turning OpenCASCADE exceptions into absl::Status at kiln_cad's boundary: every public
// function of this library runs its OCCT work inside GuardOcct so that no
// Standard_Failure (or std::exception) escapes.
#ifndef KILN_WORKER_CAD_OCCT_STATUS_H_
#define KILN_WORKER_CAD_OCCT_STATUS_H_

#include <Message.hxx>
#include <Message_Messenger.hxx>
#include <Message_Printer.hxx>
#include <Standard_Failure.hxx>
#include <exception>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace kiln::cad {

// The exception's class and message, e.g. "Standard_ConstructionError: ...".
inline std::string DescribeOcctFailure(const Standard_Failure& failure) {
  const char* message = failure.GetMessageString();
  return absl::StrCat(failure.DynamicType()->Name(), ": ",
                      (message != nullptr && *message != '\0') ? message : "(no message)");
}

// OCCT's data exchange prints transfer statistics on stdout for every file; in
// kiln-exec that is the slot log, where only warnings and failures help anyone.
inline void QuietOcctConsole() {
  static std::once_flag once;
  std::call_once(once, [] {
    const Handle(Message_Messenger)& messenger = Message::DefaultMessenger();
    for (Message_SequenceOfPrinters::Iterator it(messenger->Printers()); it.More(); it.Next()) {
      it.Value()->SetTraceLevel(Message_Warning);
    }
  });
}

// Runs `work` (returning absl::Status or absl::StatusOr<T>); an exception becomes
// Internal "<context>: OpenCASCADE failed: ...".
template <typename Work>
auto GuardOcct(const std::string& context, Work&& work) -> decltype(work()) {
  try {
    QuietOcctConsole();
    return std::forward<Work>(work)();
  } catch (const Standard_Failure& failure) {
    return absl::InternalError(
        absl::StrCat(context, ": OpenCASCADE failed: ", DescribeOcctFailure(failure)));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(context, ": out of memory"));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(context, ": ", e.what()));
  }
}

}  // namespace kiln::cad

#endif  // KILN_WORKER_CAD_OCCT_STATUS_H_
