import { useEffect, useRef, useState } from "react";

interface ConfirmButtonProps {
  /** The button's text ("Delete"); `name` is its accessible name when the text is not enough. */
  label: string;
  name?: string;
  /** Asked before acting: "Delete the rule shop/errors?" */
  question: string;
  confirmLabel: string;
  onConfirm: () => void | Promise<void>;
  disabled?: boolean;
}

/** A destructive action that asks first, in the page (no window.confirm): the question and a
 * confirm and a cancel button replace the button until one is chosen. */
export function ConfirmButton({ label, name, question, confirmLabel, onConfirm, disabled }: ConfirmButtonProps) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const triggerRef = useRef<HTMLButtonElement>(null);
  const asked = useRef(false);

  useEffect(() => {
    if (asking) {
      asked.current = true;
      cancelRef.current?.focus(); // the safe choice under the keyboard
    } else if (asked.current) {
      triggerRef.current?.focus();
    }
  }, [asking]);

  async function confirm() {
    setBusy(true);
    try {
      await onConfirm();
    } finally {
      setBusy(false);
      setAsking(false);
    }
  }

  if (!asking) {
    return (
      <button ref={triggerRef} type="button" className="button-danger" aria-label={name} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span className="confirm" role="group" aria-label={question}>
      <span className="confirm-question">{question}</span>
      <button type="button" className="button-danger" onClick={() => void confirm()} disabled={busy}>
        {confirmLabel}
      </button>
      <button ref={cancelRef} type="button" className="button-secondary" onClick={() => setAsking(false)} disabled={busy}>
        Cancel
      </button>
    </span>
  );
}
