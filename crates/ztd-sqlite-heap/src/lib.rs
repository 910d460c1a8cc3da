//! SQLite's heap on mimalloc.
//!
//! SQLite allocates through the C library's `malloc` unless told otherwise, and an import leans on it hard:
//! the writer binds about 100,000 text values a batch, each copied into a fresh allocation and freed when
//! the statement is reset, and its page cache takes and returns 16 KiB pages. With glibc's allocator that
//! was about a quarter of the writer thread's time (`malloc_consolidate`, `unlink_chunk`); on mimalloc,
//! the allocator the rest of ztd already uses, an import's writer is about 12% faster
//! (docs/benchmarks.md, "SQLite on mimalloc").
//!
//! [`install`] gives SQLite mimalloc's functions through `sqlite3_config(SQLITE_CONFIG_MALLOC)`. SQLite
//! takes them only before it initialises, which it does when the process opens its first connection, so
//! the store calls [`install`] before it opens any. This crate is the only unsafe code in ztd: each
//! callback is one call into mimalloc with the arguments SQLite passed.

use std::sync::OnceLock;

/// What [`install`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heap {
    /// SQLite allocates from mimalloc.
    Mimalloc,
    /// SQLite had initialised before [`install`] ran (something opened a connection first): it keeps
    /// the C library's allocator. Correct, only slower.
    System,
}

/// Makes SQLite allocate from mimalloc, once per process; later calls return the first call's result.
pub fn install() -> Heap {
    static INSTALLED: OnceLock<Heap> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        if callbacks::install() {
            Heap::Mimalloc
        } else {
            Heap::System
        }
    })
}

#[allow(unsafe_code)]
mod callbacks {
    use std::ffi::{c_int, c_void};

    use libsqlite3_sys as sqlite;

    // SQLite's contract for these (sqlite3_mem_methods): sizes are positive and below 2^31, pointers
    // passed back are ones these functions returned, and null from an allocation means out of memory.

    unsafe extern "C" fn allocate(size: c_int) -> *mut c_void {
        // SAFETY: mimalloc allocates any size, 16-byte aligned (SQLite needs 8), null when out of memory.
        unsafe { libmimalloc_sys::mi_malloc(size.max(0) as usize) }
    }

    unsafe extern "C" fn free(block: *mut c_void) {
        // SAFETY: SQLite frees only blocks `allocate` or `reallocate` returned.
        unsafe { libmimalloc_sys::mi_free(block) }
    }

    unsafe extern "C" fn reallocate(block: *mut c_void, size: c_int) -> *mut c_void {
        // SAFETY: as `free`; on failure mimalloc returns null and leaves the block as it was.
        unsafe { libmimalloc_sys::mi_realloc(block, size.max(0) as usize) }
    }

    unsafe extern "C" fn size_of(block: *mut c_void) -> c_int {
        // SAFETY: as `free`. The usable size is at least the size asked, and under 2^31 as that was.
        unsafe { libmimalloc_sys::mi_usable_size(block) as c_int }
    }

    unsafe extern "C" fn round_up(size: c_int) -> c_int {
        // SAFETY: a pure function of its argument.
        let rounded = unsafe { libmimalloc_sys::mi_good_size(size.max(0) as usize) };
        c_int::try_from(rounded).unwrap_or(size)
    }

    unsafe extern "C" fn initialise(_: *mut c_void) -> c_int {
        sqlite::SQLITE_OK
    }

    unsafe extern "C" fn shut_down(_: *mut c_void) {}

    /// Whether SQLite took the table: it refuses it once initialised.
    pub(crate) fn install() -> bool {
        let methods = sqlite::sqlite3_mem_methods {
            xMalloc: Some(allocate),
            xFree: Some(free),
            xRealloc: Some(reallocate),
            xSize: Some(size_of),
            xRoundup: Some(round_up),
            xInit: Some(initialise),
            xShutdown: Some(shut_down),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: SQLITE_CONFIG_MALLOC takes one pointer to a sqlite3_mem_methods, which SQLite copies
        // before returning (so a local is enough), and answers SQLITE_MISUSE, changing nothing, once
        // initialised.
        let code = unsafe {
            sqlite::sqlite3_config(
                sqlite::SQLITE_CONFIG_MALLOC,
                &methods as *const sqlite::sqlite3_mem_methods,
            )
        };
        code == sqlite::SQLITE_OK
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;
    use libsqlite3_sys as sqlite;

    /// One test: the first call in the process installs, and only a fresh process can show it.
    #[test]
    fn sqlite_allocates_resizes_and_frees_from_mimalloc() {
        assert_eq!(install(), Heap::Mimalloc);
        assert_eq!(install(), Heap::Mimalloc, "a second call reports the first");
        // SAFETY: SQLite's own allocation API, used as documented; every block is freed once.
        unsafe {
            let block = sqlite::sqlite3_malloc64(100);
            assert!(!block.is_null());
            assert!(
                libmimalloc_sys::mi_is_in_heap_region(block),
                "SQLite allocated outside mimalloc"
            );
            assert!(sqlite::sqlite3_msize(block) >= 100);
            block.cast::<u8>().write_bytes(0xA5, 100);
            let grown = sqlite::sqlite3_realloc64(block, 40_000);
            assert!(!grown.is_null());
            assert!(libmimalloc_sys::mi_is_in_heap_region(grown));
            assert!(sqlite::sqlite3_msize(grown) >= 40_000);
            assert_eq!(
                *grown.cast::<u8>().add(99),
                0xA5,
                "realloc kept the contents"
            );
            sqlite::sqlite3_free(grown);

            // A database works on it: SQLite's own allocations go through the table too.
            let mut db = std::ptr::null_mut();
            let name = c":memory:";
            assert_eq!(
                sqlite::sqlite3_open(name.as_ptr(), &mut db),
                sqlite::SQLITE_OK
            );
            let sql = c"CREATE TABLE t (v TEXT PRIMARY KEY);
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
                INSERT INTO t SELECT hex(randomblob(2000)) FROM n;";
            let code = sqlite::sqlite3_exec(
                db,
                sql.as_ptr(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            assert_eq!(code, sqlite::SQLITE_OK);
            assert_eq!(sqlite::sqlite3_close(db), sqlite::SQLITE_OK);
        }
    }
}
