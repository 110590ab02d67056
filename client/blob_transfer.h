// Blob streaming over kiln.v1.JobService (PutBlob / GetBlob): the one implementation that
// kiln::Client and the worker agent share. Internal header of the kiln_client library: it
// names gRPC types, so the public SDK header (client/kiln_client.h) does not include it.
//
// Each call runs one stream on a grpc::ClientContext that the caller owns and that serves
// this call only: the caller sets its deadline, may TryCancel() it from another thread
// (the worker does on shutdown) and decides whether to retry with a fresh context. Calls
// with distinct contexts and paths may run on any threads at once.
#ifndef KILN_CLIENT_BLOB_TRANSFER_H_
#define KILN_CLIENT_BLOB_TRANSFER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/client_context.h"
#include "kiln/v1/job.pb.h"
#include "kiln/v1/job_service.grpc.pb.h"

namespace kiln {

// Data bytes per PutBlob / GetBlob message; channels must accept messages a bit larger.
inline constexpr int64_t kBlobChunkBytes = int64_t{1} << 20;

// Downloads blob `sha256` to `path`. It streams into a new temporary file next to `path`,
// checks the size and sha256, then renames it into place (replacing `path`); the
// temporary file is removed on every failure, so `path` never holds a partial blob.
// `address` only names the scheduler in errors. INVALID_ARGUMENT for a malformed sha256,
// DATA_LOSS for a blob that arrives short or corrupted, gRPC's code for a failed stream.
absl::Status DownloadBlobToFile(v1::JobService::StubInterface& stub, grpc::ClientContext& context,
                                absl::string_view address, const std::string& sha256,
                                const std::string& path);

// Uploads the file at `path` as a blob named `name` and returns its reference. The file
// is hashed first; the header {size, sha256} travels with the first chunk, so the
// scheduler rejects content that changes while it is sent. NOT_FOUND for a missing file,
// DATA_LOSS when the file shrinks during the upload or the scheduler stores something
// else, gRPC's code for a failed stream.
absl::StatusOr<v1::BlobRef> UploadFileAsBlob(v1::JobService::StubInterface& stub,
                                             grpc::ClientContext& context,
                                             absl::string_view address, const std::string& path,
                                             const std::string& name);

}  // namespace kiln

#endif  // KILN_CLIENT_BLOB_TRANSFER_H_
