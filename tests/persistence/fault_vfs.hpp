#pragma once

// A SQLite VFS shim for the fault tier: it wraps the default VFS and, once
// armed, fails the Nth write or sync of any file with a chosen result code
// (SQLITE_FULL, SQLITE_IOERR_WRITE, SQLITE_IOERR_FSYNC, ...), so that the
// store meets a full disk or an I/O error exactly where a real one would
// strike. Registered as the default VFS of the test process: every
// connection opened afterwards goes through it.

#include <sqlite3.h>

#include <atomic>
#include <cstring>

namespace flowgate::testing {

struct fault_plan {
  /// Which call fails: 0 = none; 1 = the next one; n = the nth from now.
  std::atomic<int> write_countdown{0};
  std::atomic<int> sync_countdown{0};
  std::atomic<int> rc{SQLITE_FULL};
  /// Faults injected so far.
  std::atomic<int> injected{0};
};

inline fault_plan& faults() {
  static fault_plan plan;
  return plan;
}

namespace fault_vfs_detail {

struct shim_file {
  sqlite3_file base;
  sqlite3_file* real;
};

inline sqlite3_vfs*& real_vfs() {
  static sqlite3_vfs* vfs = nullptr;
  return vfs;
}

inline sqlite3_file* real_of(sqlite3_file* f) {
  return reinterpret_cast<shim_file*>(f)->real;
}

inline bool strike(std::atomic<int>& countdown) {
  int n = countdown.load();
  while (n > 0) {
    if (countdown.compare_exchange_weak(n, n - 1)) {
      if (n == 1) {
        faults().injected += 1;
        return true;
      }
      return false;
    }
  }
  return false;
}

inline int x_close(sqlite3_file* f) {
  auto* real = real_of(f);
  int rc = real->pMethods != nullptr ? real->pMethods->xClose(real) : SQLITE_OK;
  sqlite3_free(real);
  return rc;
}
inline int x_read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
  return real_of(f)->pMethods->xRead(real_of(f), p, n, off);
}
inline int x_write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  if (strike(faults().write_countdown)) {
    return faults().rc.load();
  }
  return real_of(f)->pMethods->xWrite(real_of(f), p, n, off);
}
inline int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return real_of(f)->pMethods->xTruncate(real_of(f), size);
}
inline int x_sync(sqlite3_file* f, int flags) {
  if (strike(faults().sync_countdown)) {
    return faults().rc.load();
  }
  return real_of(f)->pMethods->xSync(real_of(f), flags);
}
inline int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real_of(f)->pMethods->xFileSize(real_of(f), size);
}
inline int x_lock(sqlite3_file* f, int l) {
  return real_of(f)->pMethods->xLock(real_of(f), l);
}
inline int x_unlock(sqlite3_file* f, int l) {
  return real_of(f)->pMethods->xUnlock(real_of(f), l);
}
inline int x_check_reserved_lock(sqlite3_file* f, int* out) {
  return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}
inline int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
inline int x_sector_size(sqlite3_file* f) {
  return real_of(f)->pMethods->xSectorSize(real_of(f));
}
inline int x_device_characteristics(sqlite3_file* f) {
  return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}
inline int x_shm_map(sqlite3_file* f, int pg, int sz, int extend, void volatile** pp) {
  return real_of(f)->pMethods->xShmMap(real_of(f), pg, sz, extend, pp);
}
inline int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
inline void x_shm_barrier(sqlite3_file* f) {
  real_of(f)->pMethods->xShmBarrier(real_of(f));
}
inline int x_shm_unmap(sqlite3_file* f, int del) {
  return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}

inline const sqlite3_io_methods* methods() {
  static const sqlite3_io_methods m = {2,
                                       x_close,
                                       x_read,
                                       x_write,
                                       x_truncate,
                                       x_sync,
                                       x_file_size,
                                       x_lock,
                                       x_unlock,
                                       x_check_reserved_lock,
                                       x_file_control,
                                       x_sector_size,
                                       x_device_characteristics,
                                       x_shm_map,
                                       x_shm_lock,
                                       x_shm_barrier,
                                       x_shm_unmap,
                                       nullptr,
                                       nullptr};
  return &m;
}

inline int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  (void)vfs;
  auto* shim = reinterpret_cast<shim_file*>(f);
  shim->real = static_cast<sqlite3_file*>(sqlite3_malloc(real_vfs()->szOsFile));
  if (shim->real == nullptr) {
    return SQLITE_NOMEM;
  }
  std::memset(shim->real, 0, static_cast<size_t>(real_vfs()->szOsFile));
  int rc = real_vfs()->xOpen(real_vfs(), name, shim->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    sqlite3_free(shim->real);
    shim->real = nullptr;
    f->pMethods = nullptr;
    return rc;
  }
  f->pMethods = methods();
  return SQLITE_OK;
}

} // namespace fault_vfs_detail

/// Registers the shim as the default VFS (once per process).
inline void install_fault_vfs() {
  using namespace fault_vfs_detail;
  static sqlite3_vfs shim;
  static bool installed = false;
  if (installed) {
    return;
  }
  installed = true;
  real_vfs() = sqlite3_vfs_find(nullptr);
  shim = *real_vfs();
  shim.iVersion = real_vfs()->iVersion;
  shim.szOsFile = static_cast<int>(sizeof(shim_file));
  shim.zName = "flowgate-faults";
  shim.pNext = nullptr;
  shim.pAppData = nullptr;
  shim.xOpen = x_open;
  sqlite3_vfs_register(&shim, 1);
}

} // namespace flowgate::testing
