//! A lock-free stack (Treiber's) of owned items, over the crate's `ArcCell`:
//! pushes from any thread, and a `take_all` that empties it at once. The
//! snapshot registry keeps each snapshot's pinned versions in one, and each
//! kind keeps its deferred unlinks in another.
//!
//! Push is one CAS of the head; a push that loses the race allocates again
//! from the item it gets back, so the item is never cloned. Nodes link to
//! the next node strongly, so dropping a long stack is done in a loop, not
//! by recursion.

use crate::sync::{Arc, ArcCell};

pub(crate) struct Stack<E> {
    head: ArcCell<Node<E>>,
}

struct Node<E> {
    item: Option<E>,
    next: Option<Arc<Node<E>>>,
}

impl<E> Node<E> {
    fn sentinel() -> Arc<Self> {
        Arc::new(Node {
            item: None,
            next: None,
        })
    }
}

impl<E: Clone> Stack<E> {
    pub(crate) fn new() -> Self {
        Stack {
            head: ArcCell::new(Node::sentinel()),
        }
    }

    pub(crate) fn push(&self, item: E) {
        let mut item = item;
        loop {
            let current = self.head.load_full();
            let node = Arc::new(Node {
                item: Some(item),
                next: Some(Arc::clone(&current)),
            });
            if self.head.compare_and_swap(&current, &node) {
                return;
            }
            // A failed CAS leaves the node unshared (the `ArcCell` contract).
            item = Arc::into_inner(node)
                .and_then(|mut node| node.item.take())
                .expect("a node that lost its CAS is shared with nobody");
        }
    }

    /// Empties the stack and returns its items, newest first.
    pub(crate) fn take_all(&self) -> Vec<E> {
        let fresh = Node::sentinel();
        let taken = loop {
            let current = self.head.load_full();
            if current.item.is_none() {
                return Vec::new();
            }
            if self.head.compare_and_swap(&current, &fresh) {
                break current;
            }
        };
        let mut items = Vec::new();
        let mut next = Some(taken);
        while let Some(node) = next {
            // A reader that loaded this node a moment ago may still share it:
            // then clone the item instead of moving it out.
            match Arc::try_unwrap(node) {
                Ok(mut node) => {
                    items.extend(node.item.take());
                    next = node.next.take();
                }
                Err(node) => {
                    items.extend(node.item.clone());
                    next = node.next.clone();
                }
            }
        }
        items
    }

    #[cfg(all(test, not(zestor_loom)))]
    pub(crate) fn len(&self) -> usize {
        let mut count = 0;
        let mut next = Some(self.head.load_full());
        while let Some(node) = next {
            count += usize::from(node.item.is_some());
            next = node.next.clone();
        }
        count
    }
}

impl<E> Drop for Node<E> {
    fn drop(&mut self) {
        // Unlink the chain iteratively: a recursive drop of a long stack
        // would overflow the thread's stack.
        let mut next = self.next.take();
        while let Some(node) = next {
            match Arc::try_unwrap(node) {
                Ok(mut node) => next = node.next.take(),
                Err(_) => break,
            }
        }
    }
}

#[cfg(all(test, not(zestor_loom)))]
mod tests {
    use super::*;

    #[test]
    fn push_then_take_all_newest_first() {
        let stack = Stack::new();
        assert!(stack.take_all().is_empty());
        for i in 0..5 {
            stack.push(i);
        }
        assert_eq!(stack.len(), 5);
        assert_eq!(stack.take_all(), [4, 3, 2, 1, 0]);
        assert_eq!(stack.len(), 0);
        stack.push(9);
        assert_eq!(stack.take_all(), [9]);
    }

    #[test]
    fn a_long_stack_drops_without_recursion() {
        let stack = Stack::new();
        let n = if cfg!(miri) { 1_000 } else { 1_000_000 };
        for i in 0..n {
            stack.push(i);
        }
        drop(stack);
    }

    #[test]
    fn concurrent_pushes_lose_nothing() {
        let stack = Arc::new(Stack::new());
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let stack = Arc::clone(&stack);
                std::thread::spawn(move || {
                    for i in 0..1000u32 {
                        stack.push(t * 1000 + i);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut items = stack.take_all();
        items.sort_unstable();
        assert_eq!(items, (0..4000).collect::<Vec<_>>());
    }
}
