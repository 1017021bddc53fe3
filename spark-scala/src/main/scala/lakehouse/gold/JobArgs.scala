package lakehouse.gold

import java.time.LocalDate
import java.time.format.DateTimeParseException

import scala.annotation.tailrec

/** What one run recomputes: both bounds inclusive, either open; full refresh rewrites the whole mart. */
final case class JobArgs(
    silver: String,
    gold: String,
    fromDate: Option[LocalDate] = None,
    toDate: Option[LocalDate] = None,
    fullRefresh: Boolean = false,
    goldState: Option[String] = None
)

object JobArgs {
  val Usage: String =
    """Usage: spark-submit --class lakehouse.gold.PurchasesDailyJob lakehouse-gold.jar
      |         --silver PATH --gold PATH [--from-date YYYY-MM-DD] [--to-date YYYY-MM-DD] [--full-refresh]
      |         [--gold-state PATH]
      |
      |Rebuild fct_purchases_daily at --gold from the silver events Delta table at --silver.
      |  --from-date, --to-date  recompute exactly these UTC days (inclusive; an omitted bound is open);
      |                          without either, every day present in silver is recomputed
      |  --full-refresh          overwrite the whole mart from all of silver (no date bounds allowed)
      |  --gold-state PATH       the DAG's mode: read silver at the version gold's state table (gold/_state)
      |                          records, and recompute only the days with purchases committed to silver
      |                          since the version this mart was last built from (in full the first time)""".stripMargin

  private val Valued = Set("--silver", "--gold", "--from-date", "--to-date", "--gold-state")

  /** The parsed arguments, or a message naming the argument that was missing or wrong. */
  def parse(args: Seq[String]): Either[String, JobArgs] =
    collect(args.toList, Map.empty, fullRefresh = false).flatMap(build)

  @tailrec
  private def collect(rest: List[String], values: Map[String, String], fullRefresh: Boolean)
      : Either[String, (Map[String, String], Boolean)] =
    rest match {
      case Nil => Right((values, fullRefresh))
      case "--full-refresh" :: tail =>
        if (fullRefresh) Left("--full-refresh given twice") else collect(tail, values, fullRefresh = true)
      case name :: tail if Valued(name) =>
        tail match {
          case value :: more if !value.startsWith("--") =>
            if (values.contains(name)) Left(s"$name given twice")
            else collect(more, values + (name -> value), fullRefresh)
          case _ => Left(s"$name needs a value")
        }
      case other :: _ => Left(s"unknown argument '$other'")
    }

  private def build(parsed: (Map[String, String], Boolean)): Either[String, JobArgs] = {
    val (values, fullRefresh) = parsed
    for {
      silver <- values.get("--silver").toRight("--silver PATH is required (the silver events Delta table)")
      gold <- values.get("--gold").toRight("--gold PATH is required (where fct_purchases_daily is written)")
      from <- date(values, "--from-date")
      to <- date(values, "--to-date")
      _ <- checkRange(from, to, fullRefresh)
      state = values.get("--gold-state")
      _ <- Either.cond(
        state.isEmpty || (from.isEmpty && to.isEmpty),
        (),
        "--gold-state chooses the days itself (those silver changed since the last run); drop --from-date/--to-date"
      )
    } yield JobArgs(silver, gold, from, to, fullRefresh, state)
  }

  private def date(values: Map[String, String], name: String): Either[String, Option[LocalDate]] =
    values.get(name) match {
      case None => Right(None)
      case Some(text) =>
        try Right(Some(LocalDate.parse(text)))
        catch { case _: DateTimeParseException => Left(s"$name '$text' is not a date (YYYY-MM-DD)") }
    }

  private def checkRange(from: Option[LocalDate], to: Option[LocalDate], fullRefresh: Boolean)
      : Either[String, Unit] =
    (from, to) match {
      case _ if fullRefresh && (from.isDefined || to.isDefined) =>
        Left("--full-refresh rewrites every day; drop --from-date/--to-date or drop --full-refresh")
      case (Some(f), Some(t)) if f.isAfter(t) => Left(s"--from-date $f is after --to-date $t")
      case _ => Right(())
    }
}
