// Resource<T>: a C++ object owned by the BEAM's garbage collector, in one template: type
// registration, allocation with placement construction, the destructor calling ~T, lookup from
// a term, and ResourceRef<T>, a counted reference held by another C++ object.
#pragma once

#include <erl_nif.h>

#include <cstddef>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "brz/error.hpp"

namespace brz::nif {

template <class T>
class Resource {
 public:
  /// Registers the type (at load, or taking over the old library's type at upgrade). `down`
  /// is called when a process monitored with a T dies.
  static bool open(ErlNifEnv* env, const char* name, ErlNifResourceFlags flags,
                   ErlNifResourceDown* down = nullptr) {
    ErlNifResourceTypeInit init{};
    init.dtor = destroy;
    init.down = down;
    type_ = enif_open_resource_type_x(env, name, &init, flags, nullptr);
    return type_ != nullptr;
  }

  /// A new T made from `args`, as a term that owns it. `extra_bytes` are allocated beyond the
  /// object and never touched: they make the garbage collector count memory the object holds
  /// elsewhere (docs/nif.md, "Memory").
  template <class... Args>
  static ERL_NIF_TERM make(ErlNifEnv* env, std::size_t extra_bytes, Args&&... args) {
    // Construction cannot fail once the memory is allocated, so the memory never holds a
    // half-made T that the destructor callback would destroy.
    static_assert(std::is_nothrow_constructible_v<T, Args&&...>);
    void* mem = enif_alloc_resource(type_, sizeof(T) + extra_bytes);
    if (mem == nullptr) throw std::bad_alloc();
    new (mem) T(std::forward<Args>(args)...);
    const ERL_NIF_TERM term = enif_make_resource(env, mem);
    enif_release_resource(mem);  // the term holds the only reference
    return term;
  }

  /// The T of `term`; throws ArgumentError(message) when it is not a T resource.
  static T* get(ErlNifEnv* env, ERL_NIF_TERM term, const char* message) {
    void* obj;
    if (!enif_get_resource(env, term, type_, &obj)) throw brz::ArgumentError(message);
    return static_cast<T*>(obj);
  }

 private:
  static void destroy(ErlNifEnv*, void* obj) { static_cast<T*>(obj)->~T(); }
  static inline ErlNifResourceType* type_ = nullptr;
};

/// Keeps a resource alive for as long as it exists (enif_keep_resource / enif_release_resource).
template <class T>
class ResourceRef {
 public:
  explicit ResourceRef(T* obj) noexcept : obj_(obj) { enif_keep_resource(obj_); }
  ResourceRef(const ResourceRef&) = delete;
  ResourceRef& operator=(const ResourceRef&) = delete;
  ~ResourceRef() { enif_release_resource(obj_); }
  T* operator->() const noexcept { return obj_; }
  T& operator*() const noexcept { return *obj_; }

 private:
  T* obj_;
};

}  // namespace brz::nif
