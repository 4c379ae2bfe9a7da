// A move-only std::function with inline storage, for the simulator's hot callbacks.
//
// std::function in libstdc++ stores only 16 bytes inline, so nearly every callback of the engine (a
// `this` plus a liveness token plus an id) allocated on the heap, several times per simulated read.
// This keeps callables of up to N bytes inline and falls back to the heap above that. It is
// move-only, so callbacks that must run exactly once cannot be silently duplicated either.
#pragma once

#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace pflab {

template <typename Signature, std::size_t N>
class InlineFunction;

/// A move-only callable holding up to N bytes inline.
template <typename R, typename... Args, std::size_t N>
class InlineFunction<R(Args...), N> {
 public:
  InlineFunction() = default;
  InlineFunction(std::nullptr_t) {}  // NOLINT: implicit like std::function

  template <typename F, typename Fn = std::decay_t<F>,
            typename = std::enable_if_t<!std::is_same_v<Fn, InlineFunction> && std::is_invocable_r_v<R, Fn&, Args...>>>
  InlineFunction(F&& f) {  // NOLINT: implicit like std::function
    if constexpr (kFitsInline<Fn>) {
      ::new (static_cast<void*>(storage_)) Fn(std::forward<F>(f));
      ops_ = &kInlineOps<Fn>;
    } else {
      *reinterpret_cast<Fn**>(storage_) = new Fn(std::forward<F>(f));
      ops_ = &kHeapOps<Fn>;
    }
  }

  InlineFunction(InlineFunction&& other) noexcept { MoveFrom(other); }
  InlineFunction& operator=(InlineFunction&& other) noexcept {
    if (this != &other) {
      Reset();
      MoveFrom(other);
    }
    return *this;
  }
  InlineFunction& operator=(std::nullptr_t) noexcept {
    Reset();
    return *this;
  }
  InlineFunction(const InlineFunction&) = delete;
  InlineFunction& operator=(const InlineFunction&) = delete;
  ~InlineFunction() { Reset(); }

  // Const like std::function's: calling does not change which callable is held. Arguments are taken
  // by reference so a by-value parameter (a Result<Slices> handed down a stack of layers) is moved
  // once into the callee, not once per hop.
  R operator()(Args&&... args) const {
    return ops_->call(const_cast<unsigned char*>(storage_), std::forward<Args>(args)...);
  }
  explicit operator bool() const { return ops_ != nullptr; }

 private:
  // `move` and `destroy` are null for trivially copyable callables (a `this` and a few ids, the
  // common case): those are relocated with a fixed-size memcpy and need no destructor call, which
  // saves two indirect calls every time a task passes through the scheduler.
  struct Ops {
    R (*call)(void* self, Args&&... args);
    void (*move)(void* from, void* to);  // move-constructs into `to` and destroys `from`
    void (*destroy)(void* self);
  };

  template <typename Fn>
  static constexpr bool kFitsInline =
      sizeof(Fn) <= N && alignof(Fn) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<Fn>;

  template <typename Fn>
  static constexpr bool kTrivial = std::is_trivially_copyable_v<Fn>&& std::is_trivially_destructible_v<Fn>;

  template <typename Fn>
  static constexpr Ops kInlineOps = {
      [](void* self, Args&&... args) -> R { return (*static_cast<Fn*>(self))(std::forward<Args>(args)...); },
      kTrivial<Fn> ? nullptr
                   : +[](void* from, void* to) {
                       ::new (to) Fn(std::move(*static_cast<Fn*>(from)));
                       static_cast<Fn*>(from)->~Fn();
                     },
      kTrivial<Fn> ? nullptr : +[](void* self) { static_cast<Fn*>(self)->~Fn(); },
  };

  template <typename Fn>
  static constexpr Ops kHeapOps = {
      [](void* self, Args&&... args) -> R { return (**static_cast<Fn**>(self))(std::forward<Args>(args)...); },
      [](void* from, void* to) { *static_cast<Fn**>(to) = *static_cast<Fn**>(from); },
      [](void* self) { delete *static_cast<Fn**>(self); },
  };

  void MoveFrom(InlineFunction& other) noexcept {
    if (other.ops_) {
      if (other.ops_->move) {
        other.ops_->move(other.storage_, storage_);
      } else {
        // Copies all N bytes, including any the callable does not use: a fixed size compiles to a few
        // moves. Copying indeterminate bytes as unsigned char is well defined; GCC warns anyway.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)  // clang has no such warning (and warns that it has none)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
        std::memcpy(storage_, other.storage_, N);
#pragma GCC diagnostic pop
      }
      ops_ = other.ops_;
      other.ops_ = nullptr;
    }
  }
  void Reset() noexcept {
    if (ops_) {
      const Ops* ops = ops_;
      ops_ = nullptr;
      if (ops->destroy) ops->destroy(storage_);
    }
  }

  alignas(std::max_align_t) unsigned char storage_[N];
  const Ops* ops_ = nullptr;
};

}  // namespace pflab
